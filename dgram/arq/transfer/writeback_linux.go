package transfer

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing bytes [off, off+n) of
// f to the disk now, without waiting for it (sync_file_range(2) with
// SYNC_FILE_RANGE_WRITE): the sync before the rename then has little
// left to do, instead of the whole file. It is only a hint; errors are
// for the sync to report.
func startWriteback(f *os.File, off, n int64) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = unix.SyncFileRange(int(fd), off, n, unix.SYNC_FILE_RANGE_WRITE)
	})
}
