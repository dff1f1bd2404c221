//go:build !unix

package room

func reuseAddr(fd uintptr) error { return nil }
