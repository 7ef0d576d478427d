package benchmd

import (
	"errors"
	"strings"
	"testing"
)

// order is make bench's order of regions.
var order = []string{"run", "loadtest", "idle", "floor", "findings", "gobench"}

func TestRewriteRegions(t *testing.T) {
	const doc = "# Title\n\nProse before.\n\n<!-- bench:run:begin -->\nold run\n<!-- bench:run:end -->\n\nProse between.\n\n" +
		"<!-- bench:loadtest:begin -->\nold\ntable\n<!-- bench:loadtest:end -->\nProse after.\n"
	for _, tc := range []struct {
		name    string
		doc     string
		regions map[string]string
		want    string
		err     bool
	}{
		{
			name:    "replace two",
			doc:     doc,
			regions: map[string]string{"run": "new run", "loadtest": "| a |\n| - |\n"},
			want: "# Title\n\nProse before.\n\n<!-- bench:run:begin -->\nnew run\n<!-- bench:run:end -->\n\nProse between.\n\n" +
				"<!-- bench:loadtest:begin -->\n| a |\n| - |\n<!-- bench:loadtest:end -->\nProse after.\n",
		},
		{
			name:    "replace one, keep the other",
			doc:     doc,
			regions: map[string]string{"loadtest": "x"},
			want:    strings.Replace(doc, "old\ntable\n", "x\n", 1),
		},
		{
			name:    "empty content",
			doc:     doc,
			regions: map[string]string{"run": ""},
			want:    strings.Replace(doc, "old run\n", "", 1),
		},
		{
			name:    "missing region appended, known ones in order",
			doc:     "# Title\nno newline at end",
			regions: map[string]string{"gobench": "g", "run": "r"},
			want: "# Title\nno newline at end\n\n<!-- bench:run:begin -->\nr\n<!-- bench:run:end -->\n\n" +
				"<!-- bench:gobench:begin -->\ng\n<!-- bench:gobench:end -->\n",
		},
		{
			name:    "empty document",
			doc:     "",
			regions: map[string]string{"run": "r"},
			want:    "<!-- bench:run:begin -->\nr\n<!-- bench:run:end -->\n",
		},
		{
			name:    "indented markers",
			doc:     "  <!-- bench:run:begin -->\nold\n  <!-- bench:run:end -->\n",
			regions: map[string]string{"run": "new"},
			want:    "  <!-- bench:run:begin -->\nnew\n  <!-- bench:run:end -->\n",
		},
		{
			name:    "prose mentions a marker",
			doc:     "Between `<!-- bench:NAME:begin -->` and its end.\n<!-- bench:run:begin -->\nold\n<!-- bench:run:end -->\n",
			regions: map[string]string{"run": "new"},
			want:    "Between `<!-- bench:NAME:begin -->` and its end.\n<!-- bench:run:begin -->\nnew\n<!-- bench:run:end -->\n",
		},
		{
			name:    "last line without newline",
			doc:     "<!-- bench:run:begin -->\nold\n<!-- bench:run:end -->",
			regions: map[string]string{"run": "new"},
			want:    "<!-- bench:run:begin -->\nnew\n<!-- bench:run:end -->",
		},
		{
			name:    "other regions kept",
			doc:     "<!-- bench:a:begin -->\nA\n<!-- bench:a:end -->\n<!-- bench:run:begin -->\nold\n<!-- bench:run:end -->\n",
			regions: map[string]string{"run": "new"},
			want:    "<!-- bench:a:begin -->\nA\n<!-- bench:a:end -->\n<!-- bench:run:begin -->\nnew\n<!-- bench:run:end -->\n",
		},
		{name: "no end", doc: "<!-- bench:run:begin -->\nx\n", regions: map[string]string{"run": "r"}, err: true},
		{name: "end first", doc: "<!-- bench:run:end -->\n<!-- bench:run:begin -->\n", regions: map[string]string{"run": "r"}, err: true},
		{name: "twice", doc: "<!-- bench:run:begin -->\n<!-- bench:run:end -->\n<!-- bench:run:begin -->\n<!-- bench:run:end -->\n", regions: map[string]string{"run": "r"}, err: true},
		{name: "nested", doc: "<!-- bench:a:begin -->\n<!-- bench:b:begin -->\n<!-- bench:b:end -->\n<!-- bench:a:end -->\n", regions: map[string]string{"a": "r"}, err: true},
		{name: "marker inside a line", doc: "see <!-- bench:run:begin --> here\n<!-- bench:run:end -->\n", regions: map[string]string{"run": "r"}, err: true},
		{name: "misspelt marker", doc: "<!-- bench:run:start -->\n", regions: map[string]string{"run": "r"}, err: true},
		{name: "bad name", doc: "", regions: map[string]string{"a b": "r"}, err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := RewriteRegions(tc.doc, tc.regions, order)
			if tc.err {
				if !errors.Is(err, ErrRegions) {
					t.Errorf("error %v, want ErrRegions", err)
				}
				if got != tc.doc {
					t.Errorf("document changed on error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
			again, err := RewriteRegions(got, tc.regions, order)
			if err != nil || again != got {
				t.Errorf("not idempotent: %v\n%s", err, again)
			}
		})
	}
}

// FuzzRewriteRegions checks that a rewrite either refuses the document and
// leaves it alone, or puts the content in its region, is idempotent and
// keeps the text before the first marker.
func FuzzRewriteRegions(f *testing.F) {
	f.Add("# T\n<!-- bench:run:begin -->\nold\n<!-- bench:run:end -->\ntail\n", "new\n")
	f.Add("<!-- bench:run:begin -->\n<!-- bench:run:end -->", "")
	f.Add("x <!-- bench:run:begin -->", "a|b")
	f.Add("<!-- bench:run:begin -->\n<!-- bench:loadtest:begin -->\n", "y")
	f.Fuzz(func(t *testing.T, doc, body string) {
		if strings.Contains(body, "<!-- bench:") {
			return // generated content never holds markers
		}
		regions := map[string]string{"run": body}
		got, err := RewriteRegions(doc, regions, order)
		if err != nil {
			if !errors.Is(err, ErrRegions) || got != doc {
				t.Fatalf("error %v, document changed %v", err, got != doc)
			}
			return
		}
		want := regionBegin("run") + "\n" + strings.TrimRight(body, "\n")
		if !strings.Contains(got, want) {
			t.Errorf("result lacks the region's content:\n%q", got)
		}
		if i := strings.Index(doc, "<!-- bench:"); i >= 0 && !strings.HasPrefix(got, doc[:i]) {
			t.Errorf("text before the first marker changed:\n%q\n%q", doc, got)
		}
		again, err := RewriteRegions(got, regions, order)
		if err != nil || again != got {
			t.Errorf("not idempotent: %v\n%q\n%q", err, got, again)
		}
	})
}
