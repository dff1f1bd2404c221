package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// completionCases are lines typed before Tab, and what must be offered.
var completionCases = []struct {
	line string
	want []string
}{
	{"udpchat se", []string{"send"}},
	{"udpchat ", []string{"bench", "chat", "completion", "demo", "help", "keygen", "listen", "man", "mtu", "ping", "proxy", "room", "send"}},
	{"udpchat send --wa", []string{"--wait"}},
	{"udpchat room join --ni", []string{"--nick"}},
	{"udpchat send 127.0.0.1:9000 --cou", []string{"--count"}},
	{"udpchat send 127.0.0.1:9000 hello --count 3 --js", []string{"--json"}},
	{"udpchat demo b", []string{"boundaries", "burst"}},
	{"udpchat demo loss --se", []string{"--seed"}},
	{"udpchat bench --mode l", []string{"latency"}},
	{"udpchat proxy --jitter-dist ", []string{"normal", "uniform"}},
	{"udpchat proxy --up-los", []string{"--up-loss"}},
	{"udpchat completion ", []string{"bash", "fish", "zsh"}},
	{"udpchat help pi", []string{"ping"}},
	{"udpchat --ver", []string{"--version"}},
	{"udpchat demo loss ", nil},   // one scenario only
	{"udpchat send --file ", nil}, // file names, from the shell
}

// TestComplete asks udpchat itself, as the scripts do.
func TestComplete(t *testing.T) {
	t.Setenv(completionEnv, "")
	for _, tc := range completionCases {
		words := strings.Fields(tc.line)
		cur := ""
		if !strings.HasSuffix(tc.line, " ") {
			cur, words = words[len(words)-1], words[:len(words)-1]
		}
		var out, errb bytes.Buffer
		args := append(append(append([]string{}, words...), cur), completeFlag)
		if code := run(context.Background(), args, nil, &out, &errb); code != 0 {
			t.Errorf("completing %q: exit %d, %s", tc.line, code, errb.String())
		}
		got := sortedLines(out.String())
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("completing %q = %q, want %q", tc.line, got, tc.want)
		}
	}
}

func sortedLines(s string) []string {
	var l []string
	for _, x := range strings.Split(strings.TrimSpace(s), "\n") {
		if x != "" {
			l = append(l, x)
		}
	}
	if l == nil {
		return nil
	}
	sort.Strings(l)
	return l
}

// shellOut runs a shell script with the test's udpchat on PATH.
func shellOut(t *testing.T, shell string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), exitTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, shell, args...)
	cmd.Env = append(childEnv(os.Environ()), "HOME="+t.TempDir())
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\nstderr: %s", shell, err, errb.String())
	}
	return out.String()
}

// TestCompletionBash sources `udpchat completion bash` in bash and
// presses Tab (calls the completion function as bash would).
func TestCompletionBash(t *testing.T) {
	needTool(t, "bash")
	if _, err := exec.LookPath("udpchat"); err != nil {
		t.Fatal(err)
	}
	script := `source <(udpchat completion bash) || exit 9
complete -p udpchat
while IFS= read -r line; do
  COMP_LINE=$line; COMP_POINT=${#line}
  read -r -a COMP_WORDS <<< "$line"; COMP_CWORD=${#COMP_WORDS[@]}
  COMPREPLY=()
  _udpchat
  printf '%s|' "${COMPREPLY[@]}"; printf '\n'
done
`
	var in strings.Builder
	for _, tc := range completionCases {
		in.WriteString(tc.line + "\n")
	}
	out := runShellInput(t, in.String(), "bash", "--norc", "--noprofile", "-c", script)
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != len(completionCases)+1 || !strings.Contains(lines[0], "-F _udpchat") {
		t.Fatalf("bash output:\n%s", out)
	}
	for i, tc := range completionCases {
		got := sortedLines(strings.ReplaceAll(lines[i+1], "|", "\n"))
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("bash: completing %q = %q, want %q", tc.line, got, tc.want)
		}
	}
}

// TestCompletionBashWordBreaks: bash splits COMP_WORDS at ':' and '='
// (127.0.0.1:9000 is three words there); the script reads COMP_LINE, and
// completes at the cursor, not at the end of the line.
func TestCompletionBashWordBreaks(t *testing.T) {
	needTool(t, "bash")
	script := `source <(udpchat completion bash)
COMP_LINE='udpchat send 127.0.0.1:9000 --wa'; COMP_POINT=${#COMP_LINE}; _udpchat; printf '%s\n' "${COMPREPLY[@]}"
COMP_LINE='udpchat send --cou 127.0.0.1:9000'; COMP_POINT=18; _udpchat; printf '%s\n' "${COMPREPLY[@]}"
COMP_LINE='udpchat send --size=1 --js'; COMP_POINT=${#COMP_LINE}; _udpchat; printf '%s\n' "${COMPREPLY[@]}"
`
	out := runShellInput(t, "", "bash", "--norc", "--noprofile", "-c", script)
	if out != "--wait\n--count\n--json\n" {
		t.Errorf("bash completions = %q", out)
	}
}

// TestCompletionZsh runs the zsh script with zsh's completion builtins
// replaced by stubs that print what they are given.
func TestCompletionZsh(t *testing.T) {
	needTool(t, "zsh")
	script := `compdef() { print -r -- "compdef $*" }
_describe() { print -rl -- "${(@P)2}" }
_files() { print -r -- "<files>" }
source <(udpchat completion zsh)
words=(udpchat se); CURRENT=2; _udpchat
words=(udpchat send --wa); CURRENT=3; _udpchat
words=(udpchat send --file ''); CURRENT=4; _udpchat
`
	out := shellOut(t, "zsh", "-f", "-c", script)
	want := "compdef _udpchat udpchat\n" +
		"send:send datagrams: each MSG, or each line of stdin, is one datagram (sendto)\n" +
		"--wait:wait for a reply to each datagram and print it\n" +
		"<files>\n"
	if out != want {
		t.Errorf("zsh completion printed\n%s\nwant\n%s", out, want)
	}
}

// TestCompletionFish asks fish itself (complete -C).
func TestCompletionFish(t *testing.T) {
	needTool(t, "fish")
	dir := t.TempDir()
	script := `udpchat completion fish | source
complete -C'udpchat se'
complete -C'udpchat demo bu'
complete -C'udpchat send --file ` + dir + `/'
`
	if err := os.WriteFile(dir+"/data.bin", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	out := shellOut(t, "fish", "--no-config", "-c", script)
	want := "send\tsend datagrams: each MSG, or each line of stdin, is one datagram (sendto)\n" +
		"burst\n" +
		dir + "/data.bin\n"
	if out != want {
		t.Errorf("fish completion printed\n%q\nwant\n%q", out, want)
	}
}

func runShellInput(t *testing.T, input string, shell string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), exitTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, shell, args...)
	cmd.Env = childEnv(os.Environ())
	cmd.Stdin = strings.NewReader(input)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\nstderr: %s", shell, err, errb.String())
	}
	if errb.Len() > 0 {
		t.Errorf("%s wrote to stderr: %s", shell, errb.String())
	}
	return out.String()
}

// needTool skips when a program is missing, except under CI (.ci/run
// installs what the tests need), where it fails.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed, and CI should have installed it (.ci/run)", name)
	}
	t.Skipf("skipped: %s is not installed (apt-get install it, or run .ci/run)", name)
	return ""
}
