package contract_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// TestNamesAreDeclaredOnlyHere fails when a name this package declares —
// a header, subject, stream, consumer, KV bucket or key, label,
// annotation, secret or environment variable (names.go, env.go) — is
// written as a string literal anywhere else in the module, or as its
// prefix ("mysimbdp.reports." + t, "MYSIMBDP_NATS_URL=" + url). Tests, testdata and documentation
// may spell names out: they check the contract from outside.
func TestNamesAreDeclaredOnlyHere(t *testing.T) {
	names := declaredNames(t, "names.go", "env.go")
	if len(names) < 40 {
		t.Fatalf("found %d names in names.go and env.go; the parser missed some", len(names))
	}
	root := moduleRoot(t)
	var found []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			switch {
			case rel == "shared/contract", rel == "tests", d.Name() == "testdata", d.Name() == "build" && rel == "build",
				strings.HasPrefix(d.Name(), ".") && rel != ".":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		for _, hit := range literalsIn(t, path, names) {
			found = append(found, rel+":"+hit)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) > 0 {
		sort.Strings(found)
		t.Errorf("%d names are written as literals outside shared/contract; use its constants:\n%s", len(found), strings.Join(found, "\n"))
	}
}

// declaredNames is every string constant of the given files, by value,
// Default* values aside (those are settings, not names).
func declaredNames(t *testing.T, files ...string) map[string]string {
	t.Helper()
	names := map[string]string{}
	fset := token.NewFileSet()
	for _, f := range files {
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range af.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, id := range vs.Names {
					if strings.HasPrefix(id.Name, "Default") || i >= len(vs.Values) {
						continue
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						continue
					}
					v, _ := strconv.Unquote(lit.Value)
					names[v] = id.Name
				}
			}
		}
	}
	return names
}

// literalsIn lists the string literals of path that spell a name, a name
// followed by a dot, or an environment variable's name followed by "="
// (an environment entry); struct tags, import paths and NATS connection
// names are not literals in this sense.
func literalsIn(t *testing.T, path string, names map[string]string) []string {
	t.Helper()
	fset := token.NewFileSet()
	af, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	skip := map[*ast.BasicLit]bool{}
	for _, imp := range af.Imports {
		skip[imp.Path] = true
	}
	var hits []string
	ast.Inspect(af, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.Field:
			if n.Tag != nil {
				skip[n.Tag] = true
			}
		case *ast.CallExpr:
			// nats.Name("…") labels a client connection in the server's
			// monitoring; it crosses no boundary between the parts, and
			// the scaler's happens to be spelt as its KV bucket.
			if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Name" && len(n.Args) == 1 {
				if pkg, ok := sel.X.(*ast.Ident); ok && pkg.Name == "nats" {
					if lit, ok := n.Args[0].(*ast.BasicLit); ok {
						skip[lit] = true
					}
				}
			}
		case *ast.BasicLit:
			if n.Kind != token.STRING || skip[n] {
				return true
			}
			v, err := strconv.Unquote(n.Value)
			if err != nil {
				return true
			}
			name, ok := names[v]
			if !ok {
				name, ok = names[strings.TrimSuffix(v, ".")]
			}
			if !ok {
				// An environment entry being built: "NAME=" + value.
				name, ok = names[strings.TrimSuffix(v, "=")]
				ok = ok && strings.HasSuffix(v, "=") && strings.HasPrefix(strings.ToLower(name), "env")
			}
			if ok {
				hits = append(hits, strconv.Itoa(fset.Position(n.Pos()).Line)+": "+n.Value+" is contract."+name)
			}
		}
		return true
	})
	return hits
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's folder")
		}
		dir = parent
	}
}
