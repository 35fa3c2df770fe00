package symbolize

import (
	"bytes"
	"errors"
	"io"
	"sync"
)

// maxString bounds the strings read from a file (symbol, function and
// file names): a malformed table cannot make a name cost more.
const maxString = 1 << 16

var errBounds = errors.New("offset out of bounds")

// region is size bytes at off in r: a section or table of a file, read on
// demand.
type region struct {
	r    io.ReaderAt
	off  int64
	size int64
}

// in reports whether [at, at+n) is inside g.
func (g region) in(at, n int64) bool {
	return at >= 0 && n >= 0 && at <= g.size && n <= g.size-at
}

// read fills b from offset at of g.
func (g region) read(b []byte, at int64) error {
	if !g.in(at, int64(len(b))) {
		return errBounds
	}
	return readFull(g.r, b, g.off+at)
}

// cstring returns the NUL-terminated string at offset at of g (up to the
// end of g, and at most maxString bytes).
func (g region) cstring(at int64) (string, error) {
	var small [128]byte
	b, err := g.cbytes(at, small[:0])
	return string(b), err
}

// cbytes is cstring reading into buf's storage, grown as needed: the
// result aliases it.
func (g region) cbytes(at int64, buf []byte) ([]byte, error) {
	if !g.in(at, 0) {
		return nil, errBounds
	}
	if cap(buf) < 128 {
		buf = make([]byte, 128)
	}
	buf = buf[:cap(buf)]
	for {
		n := int64(len(buf))
		if rest := g.size - at; n > rest {
			n = rest
		}
		b := buf[:n]
		if err := readFull(g.r, b, g.off+at); err != nil {
			return nil, err
		}
		if i := bytes.IndexByte(b, 0); i >= 0 {
			return b[:i], nil
		}
		if n < int64(len(buf)) || len(buf) >= maxString {
			return b, nil // the end of the table, or too long
		}
		buf = make([]byte, 2*len(buf))
	}
}

// byteReader reads g sequentially from pos through a buffer.
type byteReader struct {
	g    region
	pos  int64 // offset in g of buf[0]
	buf  [2048]byte
	n, i int
}

var byteReaders = sync.Pool{New: func() any { return new(byteReader) }}

// newByteReader returns a reader of g from pos; put it back with free.
func newByteReader(g region, pos int64) *byteReader {
	r := byteReaders.Get().(*byteReader)
	r.g, r.pos, r.n, r.i = g, pos, 0, 0
	return r
}

// seek moves to offset pos of g, keeping the buffer when it holds pos.
func (b *byteReader) seek(pos int64) {
	if pos >= b.pos && pos < b.pos+int64(b.n) {
		b.i = int(pos - b.pos)
		return
	}
	b.pos, b.n, b.i = pos, 0, 0
}

func (b *byteReader) free() {
	b.g = region{}
	byteReaders.Put(b)
}

func (b *byteReader) ReadByte() (byte, error) {
	if b.i == b.n {
		b.pos += int64(b.n)
		n := b.g.size - b.pos
		if n <= 0 || b.pos < 0 {
			return 0, io.EOF
		}
		if n > int64(len(b.buf)) {
			n = int64(len(b.buf))
		}
		if err := b.g.read(b.buf[:n], b.pos); err != nil {
			return 0, err
		}
		b.n, b.i = int(n), 0
	}
	c := b.buf[b.i]
	b.i++
	return c, nil
}

// scan calls fn with consecutive chunks of g of at most chunk bytes, each
// overlapping the previous one by overlap bytes so that a pattern of
// overlap+1 bytes is seen whole in one of them, with the chunk's offset in
// g. It stops when fn returns false.
func (g region) scan(chunk, overlap int, fn func(data []byte, at int64) bool) error {
	if chunk <= overlap {
		return errors.New("chunk smaller than overlap")
	}
	buf := make([]byte, chunk)
	for at := int64(0); at < g.size; at += int64(chunk - overlap) {
		n := int64(chunk)
		if rest := g.size - at; n > rest {
			n = rest
		}
		if err := g.read(buf[:n], at); err != nil {
			return err
		}
		if !fn(buf[:n], at) || at+n >= g.size {
			return nil
		}
	}
	return nil
}
