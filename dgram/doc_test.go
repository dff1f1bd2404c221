package dgram_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// interfaceMethods are the methods whose meaning their interface gives
// (error, fmt.Stringer, errors.Is/As/Unwrap): they need no comment of
// their own.
var interfaceMethods = map[string]bool{"Error": true, "String": true, "Unwrap": true, "Is": true, "As": true}

// TestDocComments: every package of the library has a package comment,
// and every exported name a doc comment of its own, so that `go doc`
// answers for each (a comment shared by two functions shows under the
// first only).
func TestDocComments(t *testing.T) {
	pkgDoc := map[string]bool{} // directory -> has a package comment
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != "." && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			return err
		}
		dir := filepath.Dir(path)
		if _, seen := pkgDoc[dir]; !seen {
			pkgDoc[dir] = false
		}
		if f.Doc != nil {
			pkgDoc[dir] = true
		}
		for _, decl := range f.Decls {
			switch decl := decl.(type) {
			case *ast.FuncDecl:
				if !decl.Name.IsExported() || decl.Doc != nil {
					continue
				}
				if decl.Recv != nil {
					if interfaceMethods[decl.Name.Name] || !exportedRecv(decl.Recv.List[0].Type) {
						continue
					}
				}
				t.Errorf("%s: %s has no doc comment", fset.Position(decl.Pos()), decl.Name.Name)
			case *ast.GenDecl:
				for _, spec := range decl.Specs {
					switch spec := spec.(type) {
					case *ast.TypeSpec:
						if spec.Name.IsExported() && spec.Doc == nil && decl.Doc == nil {
							t.Errorf("%s: type %s has no doc comment", fset.Position(spec.Pos()), spec.Name.Name)
						}
					case *ast.ValueSpec:
						for _, n := range spec.Names {
							if n.IsExported() && spec.Doc == nil && spec.Comment == nil && decl.Doc == nil {
								t.Errorf("%s: %s has no doc comment", fset.Position(n.Pos()), n.Name)
							}
						}
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgDoc) < 10 {
		t.Fatalf("found only %d packages under dgram: %v", len(pkgDoc), pkgDoc)
	}
	for dir, ok := range pkgDoc {
		if !ok {
			t.Errorf("package %s has no package comment (// Package NAME ... before its package clause, in doc.go)", filepath.Join("dgram", dir))
		}
	}
}

// exportedRecv reports whether a method's receiver type is exported.
func exportedRecv(x ast.Expr) bool {
	for {
		switch e := x.(type) {
		case *ast.StarExpr:
			x = e.X
		case *ast.IndexExpr:
			x = e.X
		case *ast.IndexListExpr:
			x = e.X
		case *ast.Ident:
			return e.IsExported()
		default:
			return true
		}
	}
}
