package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"
)

// Shell completion. `udpchat completion SHELL` prints a script that, at
// each Tab, runs udpchat again with the words typed so far (the word
// under the cursor last, possibly empty) and urfave/cli v2's flag,
// --generate-bash-completion, at the end. udpchat then prints the
// candidates, one a line, and the shell filters them. urfave/cli's own
// handler is not used: it reads os.Args and $0 rather than the arguments
// it is given, knows nothing of flag values, and its zsh script on the
// main branch asks for the v3 flag (--generate-shell-completion,
// urfave/cli#1687), which v2 ignores. Printing nothing lets the shell
// complete file names (for --file, --output, --key-file, ...).

// completeFlag ends the words of a completion request.
const completeFlag = "--generate-bash-completion"

// completionEnv says which shell asks: zsh and fish show a description
// beside each candidate ("name:description", "name<TAB>description").
const completionEnv = "UDPCHAT_COMPLETION"

// completionShells are the shells `udpchat completion` knows.
var completionShells = []string{"bash", "zsh", "fish"}

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print the shell completion script for bash, zsh or fish",
		ArgsUsage: "bash|zsh|fish",
		Description: "Prints a script that makes the shell complete udpchat's commands, flags, scenarios and\n" +
			"flag values when you press Tab (file names where a flag takes a file).\n\n" +
			"Examples:\n" +
			"  source <(udpchat completion bash)                  # now; add it to ~/.bashrc to keep it\n" +
			"  udpchat completion bash > /etc/bash_completion.d/udpchat\n" +
			"  udpchat completion zsh > \"${fpath[1]}/_udpchat\"     # then start a new zsh\n" +
			"  udpchat completion fish > ~/.config/fish/completions/udpchat.fish",
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef(c, "completion takes one shell: bash, zsh or fish, for example: source <(udpchat completion bash)")
			}
			script, ok := map[string]string{"bash": bashCompletion, "zsh": zshCompletion, "fish": fishCompletion}[c.Args().First()]
			if !ok {
				return usagef(c, "no completion for %q: the shells are bash, zsh and fish", c.Args().First())
			}
			_, err := io.WriteString(c.App.Writer, script)
			return err
		},
	}
}

// bashCompletion works without the bash-completion package. It takes the
// words from COMP_LINE itself, since bash splits COMP_WORDS at ':' and '='
// (127.0.0.1:9000 would be three words).
const bashCompletion = `# bash completion for udpchat.   source <(udpchat completion bash)
_udpchat() {
    local line=${COMP_LINE:0:COMP_POINT}
    local -a words
    read -r -a words <<< "$line"
    local cur=""
    if [[ $line != *[[:space:]] ]]; then
        cur=${words[${#words[@]}-1]}
        unset 'words[${#words[@]}-1]'
    fi
    local prog=${words[0]}
    [[ $prog == "~/"* ]] && prog=$HOME/${prog#"~/"}
    local IFS=$'\n'
    local -a opts
    opts=($(UDPCHAT_COMPLETION=bash "$prog" "${words[@]:1}" "$cur" --generate-bash-completion 2>/dev/null))
    COMPREPLY=()
    # Complete only the part after the last ':' or '=', which bash
    # replaces on its own (COMP_WORDBREAKS).
    local keep=${cur%"${cur##*[:=]}"}
    local o
    for o in "${opts[@]}"; do
        [[ $o == "$cur"* ]] && COMPREPLY+=("${o#"$keep"}")
    done
}
complete -o default -o bashdefault -F _udpchat udpchat
`

// zshCompletion works from a file in $fpath (#compdef) or sourced.
const zshCompletion = `#compdef udpchat
# zsh completion for udpchat.   udpchat completion zsh > "${fpath[1]}/_udpchat"
_udpchat() {
    local -a opts
    local cur=${words[CURRENT]}
    opts=("${(@f)$(UDPCHAT_COMPLETION=zsh ${words[1]} ${words[2,CURRENT-1]} "$cur" --generate-bash-completion 2>/dev/null)}")
    if [[ -n ${opts[1]} ]]; then
        _describe 'udpchat' opts
    else
        _files
    fi
}
if [[ $funcstack[1] == _udpchat ]]; then
    _udpchat "$@"
else
    compdef _udpchat udpchat
fi
`

// fishCompletion falls back to file names when udpchat offers nothing.
const fishCompletion = `# fish completion for udpchat.   udpchat completion fish > ~/.config/fish/completions/udpchat.fish
function __udpchat_complete
    set -l words (commandline -opc)
    set -l cur (commandline -ct)
    set -l out (env UDPCHAT_COMPLETION=fish $words[1] $words[2..-1] "$cur" --generate-bash-completion 2>/dev/null)
    if test (count $out) -gt 0
        printf '%s\n' $out
    else
        __fish_complete_path "$cur"
    end
end
complete -c udpchat -f -a '(__udpchat_complete)'
`

// candidate is one completion and what it means.
type candidate struct{ word, help string }

// complete answers a completion request: words are the arguments before
// the one being completed, cur is that one (a prefix, maybe empty).
func complete(app *cli.App, words []string, cur string, w io.Writer) error {
	var cs []candidate
	switch {
	case cur != "" && cur[0] == '-':
		cs = flagCandidates(app, words, cur)
	default:
		cs = wordCandidates(app, words, cur)
	}
	shell := os.Getenv(completionEnv)
	for _, c := range cs {
		if !strings.HasPrefix(c.word, cur) {
			continue
		}
		line := c.word
		switch {
		case shell == "zsh" && c.help != "":
			line = strings.ReplaceAll(c.word, ":", `\:`) + ":" + c.help
		case shell == "fish" && c.help != "":
			line = c.word + "\t" + c.help
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	return nil
}

// commandPath walks words to the (sub)command they name. rest are the
// words after it; prevFlag is the flag whose value is being completed.
func commandPath(app *cli.App, words []string) (cmd *cli.Command, rest []string, prevFlag cli.Flag) {
	cmds := app.Commands
	for i := 0; i < len(words); i++ {
		wd := words[i]
		if strings.HasPrefix(wd, "-") {
			f := findFlag(cmd, wd)
			if f != nil && takesValue(f) && !strings.Contains(wd, "=") {
				if i == len(words)-1 {
					return cmd, rest, f
				}
				i++ // its value
			}
			continue
		}
		if cmd == nil && len(rest) == 0 && (wd == "help" || wd == "h") {
			cmd, cmds = helpPseudoCommand, nil
			continue
		}
		if next := findCommand(cmds, wd); next != nil && len(rest) == 0 {
			cmd, cmds = next, next.Subcommands
			continue
		}
		rest = append(rest, wd)
	}
	return cmd, rest, nil
}

// helpPseudoCommand stands for urfave/cli's help command, which the app
// adds only when it runs.
var helpPseudoCommand = &cli.Command{Name: "help"}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

func findFlag(cmd *cli.Command, word string) cli.Flag {
	if cmd == nil {
		return nil
	}
	name, _, _ := strings.Cut(strings.TrimLeft(word, "-"), "=")
	for _, f := range cmd.Flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}

func takesValue(f cli.Flag) bool {
	if d, ok := f.(cli.DocGenerationFlag); ok {
		return d.TakesValue()
	}
	return false
}

func flagUsage(f cli.Flag) string {
	if d, ok := f.(cli.DocGenerationFlag); ok {
		return strings.ReplaceAll(d.GetUsage(), "`", "")
	}
	return ""
}

// flagCandidates lists the flags of the command the words name.
func flagCandidates(app *cli.App, words []string, cur string) []candidate {
	cmd, _, _ := commandPath(app, words)
	if cmd == nil {
		return []candidate{{"--help", "show help"}, {"--version", "print the version, the commit and the Go toolchain"}}
	}
	var cs []candidate
	for _, f := range cmd.Flags {
		if v, ok := f.(cli.VisibleFlag); ok && !v.IsVisible() && !strings.HasPrefix(cur, "--up-") && !strings.HasPrefix(cur, "--down-") {
			continue // --up-NAME and --down-NAME, once the user asks for them
		}
		cs = append(cs, candidate{"--" + f.Names()[0], flagUsage(f)})
	}
	cs = append(cs, candidate{"--help", "show help"})
	sort.Slice(cs, func(i, j int) bool { return cs[i].word < cs[j].word })
	return cs
}

// flagValues are the values of flags that take one of a few words.
var flagValues = map[string][]string{
	"mode":        {"throughput", "latency"},
	"jitter-dist": {"uniform", "normal"},
}

// wordCandidates lists commands, a command's arguments, or a flag's values.
func wordCandidates(app *cli.App, words []string, cur string) []candidate {
	cmd, rest, prev := commandPath(app, words)
	if prev != nil {
		var cs []candidate
		for _, v := range flagValues[prev.Names()[0]] {
			cs = append(cs, candidate{v, ""})
		}
		return cs // nothing: the shell completes file names
	}
	if cmd == nil {
		if len(rest) > 0 {
			return nil
		}
		cs := commandCandidates(app.Commands)
		return append(cs, candidate{"help", "show the help of a command"})
	}
	if cmd.Name == "help" {
		if len(rest) > 0 {
			return nil
		}
		return commandCandidates(app.Commands)
	}
	if len(cmd.Subcommands) > 0 && len(rest) == 0 {
		return commandCandidates(cmd.Subcommands)
	}
	var args []string
	switch cmd.Name {
	case "completion":
		args = completionShells
	case "demo":
		args = demoScenarioNames()
	}
	if len(rest) > 0 {
		return nil
	}
	var cs []candidate
	for _, a := range args {
		cs = append(cs, candidate{a, ""})
	}
	return cs
}

func commandCandidates(cmds []*cli.Command) []candidate {
	var cs []candidate
	for _, c := range cmds {
		if !c.Hidden {
			cs = append(cs, candidate{c.Name, c.Usage})
		}
	}
	return cs
}

// demoScenarioNames lists what `udpchat demo SCENARIO` takes.
func demoScenarioNames() []string {
	var names []string
	for _, s := range demoScenarios() {
		if s.name != "" {
			names = append(names, s.name)
		}
	}
	return append(names, "boundaries", "reliable", "fragments", "all")
}
