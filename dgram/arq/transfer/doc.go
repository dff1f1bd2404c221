// Package transfer is udpchat's file and message transfer protocol over
// arq: what `udpchat send --reliable` and `listen --reliable` speak, for
// any Go program to speak too.
//
// A transfer is one arq connection. The sender's messages each start with
// a frame type byte:
//
//	'H' + JSON {"udpchat":1,"kind":"file"|"messages","name":NAME,"size":N}   first
//	'M' + the bytes of one message                                          kind "messages"
//	'D' + a chunk of the file (up to 64 KiB)                                 kind "file"
//	'S' + the 32-byte SHA-256 of every message (each followed by "\n")      last
//	      or of the file's bytes
//
// then the sender closes its side (arq FIN) and waits. The receiver checks
// that the header came first and the checksum last, that the SHA-256 of
// what arrived matches, that a file's size is the size the header
// declared, and, when it saves the transfer, that the file is written,
// synced and renamed into place. Only then does it answer, on the same
// connection:
//
//	'V' + JSON {"status":"saved"|"delivered"|"refused","name":NAME,"bytes":N,
//	            "sha256":HEX,"code":CODE,"reason":TEXT}
//
// "saved": the bytes are on disk under name; "delivered": messages were
// handed to the receiving application (printed) and verified; "refused":
// code and reason say why not (checksum, size, exists, name, io, busy,
// not-saved, protocol). A receiver may refuse early, right after the
// header (a file it would not overwrite), with a verdict and a RESET.
// Transport acknowledgements are not application acknowledgements: a
// Sender reports success only on a verdict of "saved" (for messages,
// "saved" or "delivered") whose bytes and SHA-256 are those it sent.
//
// Receive saves a file as the destination allows (Options.Output: a file
// name, or a directory where the sender's name, reduced to a safe base
// name, is used): into a temporary file next to it, renamed into place
// only once verified, never over an existing file unless Options.Force,
// with the mode the umask gives a new file.
package transfer
