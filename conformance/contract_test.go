package conformance

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The suite's sentences and names must not drift from the documentation:
// the contracts written in the qsessions package, and the list of subtests
// and the count of broken backends in this package's documentation.

// typeDocs returns the doc comments of the types declared in file.
func typeDocs(t *testing.T, file string) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]string{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.TYPE {
			continue
		}
		for _, spec := range g.Specs {
			ts := spec.(*ast.TypeSpec)
			doc := ts.Doc
			if doc == nil {
				doc = g.Doc
			}
			if doc != nil {
				docs[ts.Name.Name] = doc.Text()
			}
		}
	}
	return docs
}

// contractSentences returns the bulleted sentences of the list that follows
// "The contract" in doc, each on one line, without doc links' brackets.
func contractSentences(doc string) []string {
	_, list, ok := strings.Cut(doc, "The contract")
	if !ok {
		return nil
	}
	var sentences []string
	var cur []string
	flush := func() {
		if cur != nil {
			s := strings.Join(strings.Fields(strings.Join(cur, " ")), " ")
			sentences = append(sentences, strings.NewReplacer("[", "", "]", "").Replace(s))
			cur = nil
		}
	}
	for _, line := range strings.Split(list, "\n") {
		switch {
		case strings.HasPrefix(line, "  - "):
			flush()
			cur = []string{strings.TrimPrefix(line, "  - ")}
		case strings.HasPrefix(line, "    ") && cur != nil:
			cur = append(cur, line)
		case cur != nil:
			flush()
			if len(sentences) > 0 {
				return sentences
			}
		}
	}
	flush()
	return sentences
}

func TestContractSentences(t *testing.T) {
	cacheDocs, persisterDocs := typeDocs(t, "../cache.go"), typeDocs(t, "../persister.go")
	for _, c := range []struct {
		iface string
		doc   string
		ours  []string
		rules []string // the sentences the subtests check
		bare  []string // sentences with no subtest of their own
	}{
		{"Persister", persisterDocs["Persister"], persisterSentences, persisterRules(), nil},
		{"Cache", cacheDocs["Cache"], cacheSentences, cacheRules(cacheTests), nil},
		{"ConditionalCache", cacheDocs["ConditionalCache"], conditionalCacheSentences, cacheRules(conditionalCacheTests), []string{ccConditional}},
	} {
		documented := contractSentences(c.doc)
		if len(documented) == 0 {
			t.Fatalf("found no contract sentences in the documentation of %s", c.iface)
		}
		if diff := diffIDs(documented, c.ours); diff != "" {
			t.Errorf("the suite's sentences of the %s contract differ from its documentation (-documented +suite):\n%s", c.iface, diff)
		}
		for _, s := range c.ours {
			if !slices.Contains(c.rules, s) && !slices.Contains(c.bare, s) {
				t.Errorf("no subtest checks this sentence of the %s contract: %q", c.iface, s)
			}
		}
		for _, s := range c.rules {
			if !slices.Contains(c.ours, s) {
				t.Errorf("a subtest checks a sentence that is not in the %s contract: %q", c.iface, s)
			}
		}
		t.Logf("%s: %d contract sentences, %d checked by subtests", c.iface, len(documented), len(documented)-len(c.bare))
	}
}

func persisterRules() []string {
	var rules []string
	for _, tc := range persisterTests {
		rules = append(rules, tc.rule)
	}
	return rules
}

func cacheRules(tests []cacheTest) []string {
	var rules []string
	for _, tc := range tests {
		rules = append(rules, tc.rule)
	}
	return rules
}

// packageDoc returns this package's documentation.
func packageDoc(t *testing.T) string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "doc.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	return f.Doc.Text()
}

// section returns the text of doc between the lines that begin with from
// and to.
func section(t *testing.T, doc, from, to string) string {
	t.Helper()
	i := strings.Index(doc, "\n"+from)
	j := strings.Index(doc, "\n"+to)
	if i < 0 || j < i {
		t.Fatalf("the package documentation has no section from %q to %q", from, to)
	}
	return doc[i:j]
}

// camelCase matches the words that look like subtest names: two capitalised
// parts or more.
var camelCase = regexp.MustCompile(`^[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+$`)

// prose are the names in the lists of subtests that are not subtests.
var prose = []string{
	"CompareAndSwap", "ConditionalCache", "DeleteExpired", "ErrConflict", "ErrExists", "ErrNotFound",
	"FaultyCache", "LoginWith", "MiB", "TestCache", "TestPersister", "TestStore",
}

func TestDocListsSubtests(t *testing.T) {
	doc := packageDoc(t)
	for _, c := range []struct {
		entry    string
		from, to string
		names    []string
	}{
		{"TestCache", "TestCache, by contract sentence:", "TestPersister, by contract sentence:", cacheTestNames()},
		{"TestPersister", "TestPersister, by contract sentence:", "TestStore, with two Stores", persisterTestNames()},
		{"TestStore", "TestStore, with two Stores", "# The suite tests itself", storeTestNames()},
	} {
		text := section(t, doc, c.from, c.to)
		words := map[string]bool{}
		for _, w := range strings.FieldsFunc(text, func(r rune) bool {
			return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9')
		}) {
			words[w] = true
		}
		for _, name := range c.names {
			if !words[name] {
				t.Errorf("the package documentation does not list %s's subtest %s", c.entry, name)
			}
		}
		for _, w := range slices.Sorted(maps.Keys(words)) {
			if camelCase.MatchString(w) && !slices.Contains(c.names, w) && !slices.Contains(prose, w) {
				t.Errorf("the package documentation lists %s among %s's subtests, which has none of that name", w, c.entry)
			}
		}
	}
}

func TestDocCountsBrokenBackends(t *testing.T) {
	n := len(brokenCaches) + len(brokenPersisters) + len(brokenStores)
	t.Logf("%d broken backends: %d Caches, %d Persisters, %d pairs of backends under a Store",
		n, len(brokenCaches), len(brokenPersisters), len(brokenStores))
	m := regexp.MustCompile(`(\d+) deliberately broken`).FindStringSubmatch(packageDoc(t))
	if m == nil {
		t.Fatalf("the package documentation does not say how many broken backends the suite is tested against")
	}
	if got, _ := strconv.Atoi(m[1]); got != n {
		t.Errorf("the package documentation counts %d broken backends; there are %d", got, n)
	}
	for _, cases := range [][]brokenCase{brokenCaches, brokenPersisters, brokenStores} {
		seen := map[string]bool{}
		for _, bc := range cases {
			if seen[bc.bug] {
				t.Errorf("broken backend %s is listed twice", bc.bug)
			}
			seen[bc.bug] = true
		}
	}
}
