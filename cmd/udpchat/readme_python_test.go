package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadmePythonPeers runs README's Python peers, exactly as README
// shows them, against udpchat: the sender of v1 headers ("Sequence header
// v1") against listen --seq, and the sealing code ("Sealed datagrams")
// against listen --key-file --seq, so that someone who writes a peer from
// README gets one that works. (The room member is TestPythonMember's.)
func TestReadmePythonPeers(t *testing.T) {
	py := needPython(t)
	t.Run("seq-sender", func(t *testing.T) {
		script := readmeBlock(t, "<!-- python-seq-sender: run by TestReadmePythonPeers (cmd/udpchat/readme_python_test.go) -->")
		l := startChild(t, "listen", "127.0.0.1:0", "--seq", "--count", "10")
		_, port, _ := strings.Cut(l.expectErr(`^listening on (\S+) \(UDP\)`)[1], ":")
		const dst = `("127.0.0.1", 9000)`
		if !strings.Contains(script, dst) {
			t.Fatalf("README's sender does not send to %s:\n%s", dst, script)
		}
		runPython(t, py, t.TempDir(), strings.Replace(script, dst, `("127.0.0.1", `+port+`)`, 1))
		for i := range 10 {
			l.expectOut(`^127\.0\.0\.1:\d+ #` + string(rune('0'+i)) + ` in-order \(25 bytes\): hello$`)
		}
		l.expectOut(`^127\.0\.0\.1:\d+ +10 +10 +10 +0 \(0\.0%\) +0 +0 +0 `)
		if code := l.wait(); code != 0 {
			t.Errorf("listen --seq --count 10 exited %d", code)
		}
	})
	t.Run("seal", func(t *testing.T) {
		if err := exec.Command(py, "-c", "import cryptography").Run(); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatal("python3's cryptography is not installed, and CI should have installed it (.ci/run: python3-cryptography)")
			}
			t.Skip("skipped: python3's cryptography is not installed (apt-get install python3-cryptography)")
		}
		script := readmeBlock(t, "<!-- python-seal: run by TestReadmePythonPeers (cmd/udpchat/readme_python_test.go) -->")
		dir := t.TempDir()
		key := filepath.Join(dir, "chat.key") // README's code reads chat.key
		if code, _, errs := runCLI(t, "", "keygen", key); code != 0 {
			t.Fatalf("keygen: exit %d: %s", code, errs)
		}
		l := startChild(t, "listen", "127.0.0.1:0", "--seq", "--count", "3", "--key-file", key)
		host, port, _ := strings.Cut(l.expectErr(`^listening on (\S+) \(UDP\)`)[1], ":")
		// README's seal(seq, inner) around three v1 datagrams, as
		// `udpchat send --seq --key-file` would send them.
		script += `
import socket
out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for n in range(3):
    inner = struct.pack(">2sBBQQ", b"dg", 1, 0, n, time.time_ns()) + b"hello"
    out.sendto(seal(n, inner), ("` + host + `", ` + port + `))
`
		runPython(t, py, dir, script)
		for _, n := range []string{"0", "1", "2"} {
			l.expectOut(`^127\.0\.0\.1:\d+ #` + n + ` in-order \(25 bytes\): hello$`)
		}
		l.expectOut(`^sealed: 3 authenticated, 0 rejected$`)
		if code := l.wait(); code != 0 {
			t.Errorf("listen --key-file --seq --count 3 exited %d", code)
		}
	})
}

// needPython returns python3's path, or skips (fails under CI, which
// installs it: .ci/run).
func needPython(t *testing.T) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("python3 is not installed, and CI should have installed it (.ci/run)")
		}
		t.Skip("skipped: python3 is not installed (apt-get install python3)")
	}
	return py
}

// runPython runs script with python3 in dir, and fails the test if it
// fails.
func runPython(t *testing.T, py, dir, script string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), exitTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "-")
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(script)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("python3: %v\n%s\nthe script:\n%s", err, out.String(), script)
	}
}

// readmeBlock returns the fenced block that follows marker in README.
func readmeBlock(t *testing.T, marker string) string {
	t.Helper()
	b, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), marker+"\n```python\n")
	if !ok {
		t.Fatalf("README.md has no %q before a ```python block", marker)
	}
	script, _, ok := strings.Cut(rest, "\n```\n")
	if !ok {
		t.Fatalf("README.md: the block after %q does not end", marker)
	}
	return script + "\n"
}
