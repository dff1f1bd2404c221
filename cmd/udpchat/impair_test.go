package main

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/udpchat/udpchat/dgram/netem"
)

// TestLinkCountersAddUp: a link's drops, in JSON and in the table, are
// broken down by every cause, the proxy's --max-held bound among them,
// so that the causes add up to "dropped".
func TestLinkCountersAddUp(t *testing.T) {
	s := netem.Snapshot{In: 100, Out: 20, Dropped: 80, DropLoss: 3, DropBurst: 2, DropScript: 1, DropQueue: 4, DropLimit: 5, DropHeld: 65}

	b, err := json.Marshal(newLinkJSON("up", s))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var sum float64
	for k, v := range m {
		if strings.HasPrefix(k, "drop_") {
			sum += v.(float64)
		}
	}
	if sum != 80 || m["drop_held"] != 65.0 {
		t.Errorf("link JSON %s: the drop_* causes add up to %v, want 80 (drop_held 65)", b, sum)
	}

	var out bytes.Buffer
	tw := newTable(&out)
	linkTable(tw, []string{"up"}, []netem.Snapshot{s})
	if err := tw.flush(); err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile(`(?m)^up +100 +20 +80 +\(([0-9/]+)\) `).FindStringSubmatch(out.String())
	if row == nil {
		t.Fatalf("table:\n%s", out.String())
	}
	sum = 0
	for _, f := range strings.Split(row[1], "/") {
		n, _ := strconv.Atoi(f)
		sum += float64(n)
	}
	if sum != 80 {
		t.Errorf("table:\n%s\nthe causes (%s) add up to %v, want 80", out.String(), row[1], sum)
	}
}
