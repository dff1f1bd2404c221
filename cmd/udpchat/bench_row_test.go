package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/udpchat/udpchat/dgram/bench"
)

// TestBenchRowLateReport: an interval whose report from the receiver came
// late is shown with the sender's side only, in text ("recv ?") and in
// JSON ("recv_known": false, no receiver figures): not as an interval in
// which the receiver got nothing (received 0, loss 100%).
func TestBenchRowLateReport(t *testing.T) {
	late := bench.Interval{Start: time.Second, End: 2 * time.Second, Sent: 1000}
	known := bench.Interval{Start: 2 * time.Second, End: 3 * time.Second, Sent: 1000, Received: 990, Known: true}

	var text bytes.Buffer
	benchRow(&text, nil, 64, late)
	if !strings.Contains(text.String(), "recv ?") || strings.Contains(text.String(), "loss") {
		t.Errorf("late report, text: %q", text.String())
	}

	for _, tc := range []struct {
		r     bench.Interval
		known bool
	}{{late, false}, {known, true}} {
		var buf bytes.Buffer
		benchRow(&buf, newJSONWriter(&buf), 64, tc.r)
		var obj map[string]any
		if err := json.Unmarshal(buf.Bytes(), &obj); err != nil {
			t.Fatalf("%q: %v", buf.String(), err)
		}
		if obj["type"] != "interval" || obj["sent"] != 1000.0 || obj["recv_known"] != tc.known {
			t.Errorf("interval %v: %s", tc.r, buf.String())
		}
		_, hasLoss := obj["loss_pct"]
		_, hasRecv := obj["received"]
		if hasLoss != tc.known || hasRecv != tc.known {
			t.Errorf("interval with recv_known %v has loss_pct %v, received %v: %s", tc.known, hasLoss, hasRecv, buf.String())
		}
		if tc.known && (obj["received"] != 990.0 || obj["loss_pct"] != 1.0) {
			t.Errorf("known interval: %s", buf.String())
		}
	}
}
