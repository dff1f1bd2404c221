// Package lru is the intrusive doubly-linked list behind udpchat's bounded
// tables: a map finds an entry, the list orders entries by last use, and
// the least recently used one is evicted (or reused) when the table is
// full.
package lru

// Node is an element of a List; Value is the table's entry.
type Node[T any] struct {
	prev, next *Node[T]
	in         bool
	Value      T
}

// List orders nodes from most (front) to least (back) recently used. The
// zero value is an empty list. It is not safe for concurrent use.
type List[T any] struct {
	head, tail *Node[T]
	n          int
}

// Len is the number of nodes in the list.
func (l *List[T]) Len() int { return l.n }

// Front is the most recently used node, nil if the list is empty.
func (l *List[T]) Front() *Node[T] { return l.head }

// Back is the least recently used node, nil if the list is empty.
func (l *List[T]) Back() *Node[T] { return l.tail }

// Next is the node after n, towards the back.
func (n *Node[T]) Next() *Node[T] { return n.next }

// PushFront adds n, which must not be in a list, at the front.
func (l *List[T]) PushFront(n *Node[T]) {
	if n.in {
		panic("lru: node already in a list")
	}
	n.prev, n.next, n.in = nil, l.head, true
	if l.head != nil {
		l.head.prev = n
	}
	l.head = n
	if l.tail == nil {
		l.tail = n
	}
	l.n++
}

// Remove takes n, which must be in l, out of it.
func (l *List[T]) Remove(n *Node[T]) {
	if n.prev != nil {
		n.prev.next = n.next
	} else {
		l.head = n.next
	}
	if n.next != nil {
		n.next.prev = n.prev
	} else {
		l.tail = n.prev
	}
	n.prev, n.next, n.in = nil, nil, false
	l.n--
}

// MoveToFront marks n, which must be in l, as the most recently used.
func (l *List[T]) MoveToFront(n *Node[T]) {
	if l.head != n {
		l.Remove(n)
		l.PushFront(n)
	}
}
