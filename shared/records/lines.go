package records

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// lines reads physical lines with their numbers, bounded in length, and lets
// the CSV reader push lines back to read them again after a broken quote.
type lines struct {
	br      *bufio.Reader
	max     int
	n       int // physical lines read from br
	pending []pushed
}

type pushed struct {
	text []byte
	n    int
}

// errLineTooLong marks a line cut at the limit; the rest of it is skipped.
var errLineTooLong = errors.New("line too long")

// appendLine appends the next physical line, with its line break, to dst.
// It returns io.EOF only when there is no line left at all. A line longer
// than max gets errLineTooLong: dst holds its first max bytes and the rest
// up to the line break is discarded, so reading can go on.
func (l *lines) appendLine(dst []byte) ([]byte, int, error) {
	if len(l.pending) > 0 {
		p := l.pending[0]
		l.pending = l.pending[1:]
		return append(dst, p.text...), p.n, nil
	}
	start := len(dst)
	for {
		chunk, err := l.br.ReadSlice('\n')
		if room := l.max - (len(dst) - start); len(chunk) > room {
			dst = append(dst, chunk[:max(room, 0)]...)
			if errors.Is(err, bufio.ErrBufferFull) {
				err = l.skipLine()
			}
			l.n++
			if err != nil && !errors.Is(err, io.EOF) {
				return dst, l.n, err
			}
			return dst, l.n, errLineTooLong
		}
		dst = append(dst, chunk...)
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if len(dst) == start {
				return dst, l.n, io.EOF
			}
			l.n++
			return dst, l.n, nil
		case err != nil:
			return dst, l.n, err
		}
		l.n++
		return dst, l.n, nil
	}
}

// skipLine discards input up to and including the next line break.
func (l *lines) skipLine() error {
	for {
		_, err := l.br.ReadSlice('\n')
		if !errors.Is(err, bufio.ErrBufferFull) {
			return err
		}
	}
}

// pushBack queues lines to be read again before anything else.
func (l *lines) pushBack(p []pushed) {
	l.pending = append(p, l.pending...)
}

// trimEOL removes a trailing "\n" or "\r\n".
func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}
