// Command compare measures udpchat's reliable file transfer against quic-go
// and kcp-go on the same seeded links, and prints one table.
//
// Every transfer sends the same file (seeded random bytes) from a sender
// process to a receiver process on loopback, directly or through one
// `udpchat proxy` started for that run with the link's impairment flags and
// a fixed --seed. The three peers:
//
//   - udpchat: the real CLI, built from this repository (or -udpchat PATH):
//     `udpchat listen --reliable --output F` and
//     `udpchat send --file F --json`, whose JSON summary gives segments,
//     retransmissions, needless retransmissions and bytes on the wire;
//   - quic-go: one bidirectional stream, TLS 1.3 with a self-signed
//     certificate made by this program for the run;
//   - kcp-go: the "fast3" profile kcptun users pick (nodelay 1, interval
//     10 ms, resend 2, nc 1: no congestion window), stream mode, window 1024
//     both ways, no FEC, no encryption.
//
// The quic-go and kcp-go sides run as child processes of this program (it
// starts itself again in a peer role), so that every peer is two processes
// with their own runtime, as udpchat is. They do what the CLI does: the
// sender reads the file and hashes it as it goes, the receiver writes into a
// temporary file, hashes, syncs and renames it into place, then answers with
// the SHA-256 it computed, and the sender stops the clock when that answer
// matches. A transfer's time runs from starting the sender process to the
// sender's result line; this program then hashes the saved file itself, so
// a run counts only if the bytes arrived intact. Each transfer is bounded
// by -timeout: a peer that runs out of time is killed and reported as a
// failure.
//
// Usage:
//
//	cd testdata/compare && go run . -size 16M -runs 2
//
// Flags: -size, -runs, -seed, -links, -peers, -timeout, -udpchat, -root,
// -json, -save, -keep. See README.md in this directory.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if isChild() {
		os.Exit(childMain(os.Args[1:]))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the command line of a comparison.
type options struct {
	size    int64
	runs    int
	seed    uint64
	links   []link
	peers   []string
	timeout time.Duration
	udpchat string // a built udpchat binary; empty: build one from root
	root    string // the udpchat repository
	json    bool
	save    string // also write the JSON lines to this file
	keep    bool
}

func parseOptions(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: go run . [flags]   (in testdata/compare)\n\n"+
			"Sends one file with udpchat's reliable mode, quic-go and kcp-go through the same\n"+
			"seeded udpchat proxy, for each link, and prints a Markdown table (or --json).\n\nflags:\n")
		fs.PrintDefaults()
		fmt.Fprintf(stderr, "\nlinks:\n")
		for _, l := range allLinks {
			fmt.Fprintf(stderr, "  %-11s %s\n", l.name, l.label)
		}
	}
	size := fs.String("size", "16M", "bytes to send per transfer: a number with an optional K, M or G suffix (powers of 1024)")
	runs := fs.Int("runs", 2, "transfers per link and peer; the table shows the median")
	seed := fs.Uint64("seed", 1, "the seed of the file's bytes and of every proxy's impairment")
	links := fs.String("links", "all", "comma-separated links to run (see below), or all")
	peers := fs.String("peers", strings.Join(allPeers, ","), "comma-separated peers to run")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up on one transfer after this long (a failure, reported)")
	o := &options{}
	fs.StringVar(&o.udpchat, "udpchat", "", "an existing udpchat binary to measure (default: build ./cmd/udpchat from -root)")
	fs.StringVar(&o.root, "root", "../..", "the udpchat repository, built when -udpchat is not given")
	fs.BoolVar(&o.json, "json", false, "print JSON lines instead of the table")
	fs.StringVar(&o.save, "save", "", "also write the JSON lines to this `file` (with the table on stdout)")
	fs.BoolVar(&o.keep, "keep", false, "keep the working directory (binary, file, outputs) and say where")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("compare takes no arguments, got %q", fs.Args())
	}
	n, err := parseSize(*size)
	if err != nil {
		return nil, fmt.Errorf("-size: %w", err)
	}
	if n < 1 || n > 1<<34 {
		return nil, fmt.Errorf("-size must be from 1 byte to 16G, got %d", n)
	}
	o.size = n
	if *runs < 1 || *runs > 100 {
		return nil, fmt.Errorf("-runs must be from 1 to 100, got %d", *runs)
	}
	o.runs, o.seed = *runs, *seed
	if *timeout <= 0 {
		return nil, errors.New("-timeout must be more than 0")
	}
	o.timeout = *timeout
	if o.links, err = pickLinks(*links); err != nil {
		return nil, err
	}
	for p := range strings.SplitSeq(*peers, ",") {
		p = strings.TrimSpace(p)
		if !isPeer(p) {
			return nil, fmt.Errorf("-peers: unknown peer %q (have %s)", p, strings.Join(allPeers, ", "))
		}
		o.peers = append(o.peers, p)
	}
	return o, nil
}

// parseSize reads 16M, 256K, 1G or a plain number of bytes.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "I")
	switch {
	case strings.HasSuffix(t, "K"):
		mult, t = 1<<10, t[:len(t)-1]
	case strings.HasSuffix(t, "M"):
		mult, t = 1<<20, t[:len(t)-1]
	case strings.HasSuffix(t, "G"):
		mult, t = 1<<30, t[:len(t)-1]
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a size (examples: 16M, 256K, 1000000)", s)
	}
	return n * mult, nil
}

// run is the whole comparison; it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseOptions(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "compare: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b, err := newBench(ctx, o, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "compare: %v\n", err)
		return 1
	}
	defer b.close()
	res := b.runAll(ctx)
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "compare: interrupted; the table holds the runs that finished")
	}
	if o.json {
		err = writeJSON(stdout, b.info, res)
	} else {
		err = writeMarkdown(stdout, b.info, res)
	}
	if err == nil && o.save != "" {
		err = saveJSON(o.save, b.info, res)
	}
	if err != nil {
		fmt.Fprintf(stderr, "compare: %v\n", err)
		return 1
	}
	if ctx.Err() != nil {
		return 130
	}
	if failed := countFailures(res); failed > 0 {
		fmt.Fprintf(stderr, "compare: %d of %d transfers failed (see the table)\n", failed, countRuns(res))
		return 1
	}
	return 0
}
