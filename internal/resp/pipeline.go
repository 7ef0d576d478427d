package resp

// Pipeline collects commands to send together: Client.DoPipeline writes
// them all in one write and reads their replies in order, so N commands
// cost one round trip instead of N. The commands run one after another on
// one connection, but other clients' commands may run between them; for
// atomicity, put MULTI and EXEC around them or use a Script.
//
// The zero Pipeline is empty and ready to use. A Pipeline is not safe for
// concurrent use; after DoPipeline it may be Reset and filled again.
type Pipeline struct {
	buf []byte
	n   int
	err error // the first encoding error, reported by DoPipeline
}

// Add appends one command, with arguments as for Client.Do. An argument
// that cannot be encoded makes DoPipeline fail without sending anything.
func (p *Pipeline) Add(args ...any) {
	if p.err != nil {
		return
	}
	var err error
	if p.buf, err = AppendCommand(p.buf, args...); err != nil {
		p.err = err
		return
	}
	p.n++
}

// Len returns how many commands the Pipeline holds.
func (p *Pipeline) Len() int { return p.n }

// Reset empties the Pipeline, keeping its buffer.
func (p *Pipeline) Reset() {
	p.buf, p.n, p.err = p.buf[:0], 0, nil
}
