package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionText(t *testing.T) {
	tests := []struct {
		name     string
		bi       debug.BuildInfo
		want     []string
		wantNone []string
	}{
		{"checkout, dirty", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20261129191424-7e443b4b719e+dirty"},
			Settings: []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "7e443b4b719e6ef0ed2dee8fc55452de7578165d"},
				{Key: "vcs.time", Value: "2026-11-29T19:14:24Z"}, {Key: "vcs.modified", Value: "true"}}},
			[]string{"udpchat v0.0.0-20261129191424-7e443b4b719e+dirty\n", "commit 7e443b4b719e6ef0ed2dee8fc55452de7578165d (2026-11-29T19:14:24Z), with uncommitted changes\n", "built with go1.26.8 for linux/amd64\n"}, nil},
		{"checkout, clean", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "7e443b4b719e6ef0ed2dee8fc55452de7578165d"}, {Key: "vcs.modified", Value: "false"}}},
			[]string{"udpchat devel-7e443b4b719e\n", "commit 7e443b4b719e6ef0ed2dee8fc55452de7578165d\n"}, []string{"uncommitted"}},
		{"go install @version", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}},
			[]string{"udpchat v1.2.3\n", "commit not recorded (built from the module, not from a checkout)\n"}, nil},
		{"-buildvcs=false", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			[]string{"udpchat (devel)\n", "commit not recorded: built without version control information"}, []string{"dev\n"}},
	}
	for _, tt := range tests {
		got := buildVersionFrom(&tt.bi, "linux/amd64").text()
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: version text\n%s\nlacks %q", tt.name, got, w)
			}
		}
		for _, w := range tt.wantNone {
			if strings.Contains(got, w) {
				t.Errorf("%s: version text\n%s\nhas %q", tt.name, got, w)
			}
		}
	}
}

// TestVersionFromGit builds udpchat in a git repository of its own (a
// copy of this module, committed), with -buildvcs=true as from a clone,
// and checks that --version names that commit; then with a change not
// committed, and without VCS stamping (this environment sets
// GOFLAGS=-buildvcs=false), where it must say that it does not know.
func TestVersionFromGit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds udpchat three times")
	}
	gitPath := needTool(t, "git")
	goPath := needTool(t, "go")
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	repo := t.TempDir()
	copyModule(t, root, repo)
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(gitPath, append([]string{"-C", repo, "-c", "user.name=udpchat test", "-c", "user.email=test@example.invalid", "-c", "commit.gpgsign=false"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q")
	git("add", "-A")
	git("commit", "-q", "-m", "test")
	head := git("rev-parse", "HEAD")

	build := func(vcs string) string {
		t.Helper()
		bin := filepath.Join(t.TempDir(), "udpchat")
		cmd := exec.Command(goPath, "build", "-trimpath", "-buildvcs="+vcs, "-o", bin, "./cmd/udpchat")
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build -buildvcs=%s: %v\n%s", vcs, err, out)
		}
		out, err := exec.Command(bin, "--version").CombinedOutput()
		if err != nil {
			t.Fatalf("udpchat --version: %v\n%s", err, out)
		}
		return string(out)
	}

	clean := build("true")
	if !regexp.MustCompile(`^udpchat v0\.0\.0-\d{14}-`+head[:12]+`\n`).MatchString(clean) ||
		!strings.Contains(clean, "commit "+head+" (") || strings.Contains(clean, "uncommitted") {
		t.Errorf("--version of a clean checkout at %s:\n%s", head, clean)
	}
	if err := os.WriteFile(filepath.Join(repo, "README.md"), []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dirty := build("true")
	if !strings.Contains(dirty, "+dirty\n") || !strings.Contains(dirty, "commit "+head+" (") || !strings.Contains(dirty, ", with uncommitted changes\n") {
		t.Errorf("--version of a changed checkout at %s:\n%s", head, dirty)
	}
	none := build("false")
	if !strings.HasPrefix(none, "udpchat (devel)\ncommit not recorded: built without version control information") {
		t.Errorf("--version built with -buildvcs=false:\n%s", none)
	}
	// A git worktree has a .git file, not a directory, and Go records
	// nothing there, even with -buildvcs=true: the text must not say that
	// it was built outside a checkout, but name the case.
	wt := filepath.Join(t.TempDir(), "wt")
	git("worktree", "add", "-q", wt)
	repo = wt
	inWorktree := build("true")
	if !strings.Contains(inWorktree, "commit "+head) && (strings.Contains(inWorktree, "outside a git checkout") || !strings.Contains(inWorktree, "git worktree")) {
		t.Errorf("--version built in a git worktree, which Go does not stamp, does not say so:\n%s", inWorktree)
	}
}

// copyModule copies the files of the module at root (go.mod, go.sum and
// every Go file and testdata file the build needs) into dst.
func copyModule(t *testing.T, root, dst string) {
	t.Helper()
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			if rel != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if !d.Type().IsRegular() || !(strings.HasSuffix(p, ".go") || d.Name() == "go.mod" || d.Name() == "go.sum" || d.Name() == "README.md") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
