package lru

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestAgainstSlice drives a List and a slice model with the same random
// operations and compares them after each.
func TestAgainstSlice(t *testing.T) {
	var l List[int]
	nodes := make([]*Node[int], 50)
	for i := range nodes {
		nodes[i] = &Node[int]{Value: i}
	}
	var model []int // front first
	rng := rand.New(rand.NewPCG(1, 2))
	for step := range 20000 {
		i := rng.IntN(len(nodes))
		n := nodes[i]
		at := slices.Index(model, i)
		switch {
		case at < 0:
			l.PushFront(n)
			model = slices.Insert(model, 0, i)
		case rng.IntN(2) == 0:
			l.Remove(n)
			model = slices.Delete(model, at, at+1)
		default:
			l.MoveToFront(n)
			model = slices.Insert(slices.Delete(model, at, at+1), 0, i)
		}
		var got []int
		for n := l.Front(); n != nil; n = n.Next() {
			got = append(got, n.Value)
		}
		if !slices.Equal(got, model) || l.Len() != len(model) {
			t.Fatalf("step %d: list %v, model %v (len %d)", step, got, model, l.Len())
		}
		if len(model) > 0 && (l.Back().Value != model[len(model)-1] || l.Front().Value != model[0]) {
			t.Fatalf("step %d: ends %d..%d, model %v", step, l.Front().Value, l.Back().Value, model)
		}
	}
}

func TestPushTwicePanics(t *testing.T) {
	var l List[int]
	n := &Node[int]{}
	l.PushFront(n)
	defer func() {
		if recover() == nil {
			t.Error("pushing a node twice did not panic")
		}
	}()
	l.PushFront(n)
}
