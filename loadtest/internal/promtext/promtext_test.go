package promtext

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestScan(t *testing.T) {
	text := `# HELP ringchat_connections Open chat connections.
# TYPE ringchat_connections gauge
ringchat_connections 3
ringchat_closes_total{code="1000",other="x"} 7 1700000000

go_heap_objects_bytes 1.5e+06
not_a_number{a="b"} many
no_value
`
	var got []string
	err := Scan(strings.NewReader(text), func(name, label string, v float64) {
		got = append(got, fmt.Sprintf("%s %q %g", name, label, v))
	})
	want := []string{`ringchat_connections "" 3`, `ringchat_closes_total "1000" 7`, `go_heap_objects_bytes "" 1.5e+06`}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("Scan = %q, %v; want %q", got, err, want)
	}
	long := strings.Repeat("x", 2<<20)
	if err := Scan(strings.NewReader(long), func(string, string, float64) {}); err == nil {
		t.Errorf("no error for a line over 1 MiB")
	}
}
