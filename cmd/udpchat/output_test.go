package main

import "testing"

func TestPlural(t *testing.T) {
	for _, tc := range []struct {
		n          uint64
		word, want string
	}{
		{0, "datagram", "0 datagrams"},
		{1, "datagram", "1 datagram"},
		{2, "reply", "2 replies"},
		{2, "day", "2 days"},
		{2, "address", "2 addresses"},
		{1, "address", "1 address"},
		{3, "box", "3 boxes"},
		{2, "batch", "2 batches"},
	} {
		if got := plural(tc.n, tc.word); got != tc.want {
			t.Errorf("plural(%d, %q) = %q, want %q", tc.n, tc.word, got, tc.want)
		}
	}
}
