package childproc

// HelperSpec is helperSpec, for the external tests.
var HelperSpec = helperSpec
