package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/urfave/cli/v2"
)

// buildVersion is what a binary knows about the source it was built from,
// read from runtime/debug.ReadBuildInfo.
type buildVersion struct {
	module   string // the main module's version: v1.2.3, a pseudo-version, or "(devel)"
	revision string // the commit (vcs.revision), "" when not recorded
	time     string // the commit's time (vcs.time)
	modified bool   // built with uncommitted changes (vcs.modified)
	vcs      string // the version control system, "" when not recorded
	goVer    string
	platform string
}

func readBuildVersion() buildVersion {
	v := buildVersion{goVer: runtime.Version(), platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	return buildVersionFrom(bi, v.platform)
}

func buildVersionFrom(bi *debug.BuildInfo, platform string) buildVersion {
	v := buildVersion{module: bi.Main.Version, goVer: bi.GoVersion, platform: platform}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs":
			v.vcs = s.Value
		case "vcs.revision":
			v.revision = s.Value
		case "vcs.time":
			v.time = s.Value
		case "vcs.modified":
			v.modified = s.Value == "true"
		}
	}
	return v
}

// short is the version in one word, for `udpchat version X`.
func (v buildVersion) short() string {
	switch {
	case v.module != "" && v.module != "(devel)":
		return v.module
	case v.revision != "":
		r := v.revision
		if len(r) > 12 {
			r = r[:12]
		}
		if v.modified {
			r += "+dirty"
		}
		return "devel-" + r
	}
	return "(devel)"
}

// text is what --version prints: the version, the commit (or why it is
// not known), and the toolchain.
func (v buildVersion) text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "udpchat %s\n", v.short())
	switch {
	case v.revision != "":
		fmt.Fprintf(&b, "commit %s", v.revision)
		if v.time != "" {
			fmt.Fprintf(&b, " (%s)", v.time)
		}
		if v.modified {
			b.WriteString(", with uncommitted changes")
		}
		b.WriteString("\n")
	case v.module != "" && v.module != "(devel)":
		b.WriteString("commit not recorded (built from the module, not from a checkout)\n")
	default:
		b.WriteString("commit not recorded: built without version control information (go build -buildvcs=false, outside a git clone, or in a git worktree or submodule, whose .git file Go does not read)\n")
	}
	fmt.Fprintf(&b, "built with %s for %s\n", v.goVer, v.platform)
	return b.String()
}

func init() {
	// --version prints the whole story, not only "udpchat version X".
	cli.VersionPrinter = func(c *cli.Context) {
		fmt.Fprint(c.App.Writer, readBuildVersion().text())
	}
}
