package transfer

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Destination says where Receive saves a transfer: Output is a file name,
// or an existing directory, in which the sender's file name (SafeName)
// is used. An existing file is never replaced unless Force.
type Destination struct {
	Output string
	Force  bool
}

// Check looks at the destination before anything arrives, so that a
// program can refuse to start (a file that exists, a directory that does
// not). It returns nil for a directory, whatever it holds.
func (d Destination) Check() error {
	st, err := os.Stat(d.Output)
	switch {
	case err == nil && st.IsDir():
		return nil
	case err == nil && !st.Mode().IsRegular():
		return fmt.Errorf("%s exists and is not a regular file", d.Output)
	case err == nil && !d.Force:
		return fmt.Errorf("%s exists: give another name, a directory, or --force to replace it", d.Output)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return err
	}
	dir := filepath.Dir(d.Output)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("%s: the directory %s does not exist", d.Output, dir)
	}
	return nil
}

// path returns the file a transfer with header h goes to, or a refusal.
func (d Destination) path(h Header) (string, *Verdict) {
	p := d.Output
	if st, err := os.Stat(p); err == nil && st.IsDir() {
		name := "messages.txt"
		if h.Kind == KindFile {
			if name = SafeName(h.Name); name == "" {
				return "", &Verdict{Status: StatusRefused, Code: CodeName, Reason: fmt.Sprintf("the file name %q is not one the receiver can create", h.Name)}
			}
		}
		p = filepath.Join(p, name)
	}
	if st, err := os.Lstat(p); err == nil {
		if !st.Mode().IsRegular() {
			return "", &Verdict{Status: StatusRefused, Code: CodeExists, Reason: fmt.Sprintf("%s exists on the receiver and is not a regular file", filepath.Base(p))}
		}
		if !d.Force {
			return "", &Verdict{Status: StatusRefused, Code: CodeExists, Reason: fmt.Sprintf("%s exists on the receiver, which does not replace files", filepath.Base(p))}
		}
	}
	return p, nil
}

// partFile is a transfer being written: a temporary file next to its
// final name, created with the mode the umask gives a new file.
type partFile struct {
	*os.File
	final   string
	force   bool
	written int64 // bytes written
	synced  int64 // bytes handed to startWriteback
}

// writebackStep is how many bytes are written before the kernel is asked
// to start writing them to the disk.
const writebackStep = 1 << 20

// Write writes b and, every writebackStep bytes, starts their writeback,
// so that the disk works while the network does.
func (p *partFile) Write(b []byte) (int, error) {
	n, err := p.File.Write(b)
	p.written += int64(n)
	if p.written-p.synced >= writebackStep {
		startWriteback(p.File, p.synced, p.written-p.synced)
		p.synced = p.written
	}
	return n, err
}

func createPart(final string, force bool) (*partFile, error) {
	dir, base := filepath.Split(final)
	for range 100 {
		var r [6]byte
		_, _ = rand.Read(r[:])
		name := filepath.Join(dir, "."+base+".part-"+hex.EncodeToString(r[:]))
		f, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o666)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return &partFile{File: f, final: final, force: force}, nil
	}
	return nil, fmt.Errorf("cannot create a temporary file in %s", dir)
}

// commit syncs the file and puts it under its final name: by rename with
// Force, else by link, which fails rather than replace a file that
// appeared meanwhile.
func (p *partFile) commit() error {
	if err := p.Sync(); err != nil {
		return err
	}
	if err := p.Close(); err != nil {
		return err
	}
	if p.force {
		return os.Rename(p.Name(), p.final)
	}
	err := os.Link(p.Name(), p.final)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s appeared on the receiver during the transfer, which does not replace files", filepath.Base(p.final))
	}
	if err != nil {
		// a file system without hard links: check, then rename
		if _, serr := os.Lstat(p.final); serr == nil {
			return fmt.Errorf("%s appeared on the receiver during the transfer, which does not replace files", filepath.Base(p.final))
		}
		return os.Rename(p.Name(), p.final)
	}
	return os.Remove(p.Name())
}

// discard removes the temporary file.
func (p *partFile) discard() {
	p.Close()
	os.Remove(p.Name())
}
