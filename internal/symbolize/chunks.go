package symbolize

// chunks is a growable array stored in fixed-size chunks: appending never
// copies what is stored, so building a large table costs no garbage from
// slice growth, and at most one partly filled chunk of slack (see trim).
type chunks[T any] struct {
	c [][]T
	n int
}

const (
	chunkShift = 12
	chunkLen   = 1 << chunkShift
	chunkMask  = chunkLen - 1
)

func (s *chunks[T]) add(v T) {
	if s.n&chunkMask == 0 {
		s.c = append(s.c, make([]T, chunkLen))
	}
	s.c[s.n>>chunkShift][s.n&chunkMask] = v
	s.n++
}

func (s *chunks[T]) len() int           { return s.n }
func (s *chunks[T]) at(i int) T         { return s.c[i>>chunkShift][i&chunkMask] }
func (s *chunks[T]) set(i int, v T)     { s.c[i>>chunkShift][i&chunkMask] = v }
func (s *chunks[T]) ptr(i int) *T       { return &s.c[i>>chunkShift][i&chunkMask] }
func (s *chunks[T]) bytes(size int) int { return len(s.c)*chunkLen*size + 24*cap(s.c) }

// truncate keeps the first n elements and drops the slack of the last
// chunk.
func (s *chunks[T]) truncate(n int) {
	s.n = n
	full := (n + chunkMask) >> chunkShift
	clear(s.c[full:])
	s.c = s.c[:full]
	if last := n & chunkMask; last != 0 {
		s.c[full-1] = append([]T(nil), s.c[full-1][:last]...)
	}
	s.c = append([][]T(nil), s.c...)
}

// textChunks stores NUL-terminated strings in chunks of textChunkLen
// bytes; a string never straddles two chunks, so its reference (chunk
// index and offset) reads it from one slice.
type textChunks struct {
	c [][]byte
	n int // bytes stored, for the size bound
}

const (
	textChunkShift = 16
	textChunkLen   = 1 << textChunkShift
	maxTextRef     = 1<<30 - 1
)

// add stores s and returns its reference, or false when s cannot be
// stored (longer than a chunk, or the references are exhausted).
func (t *textChunks) add(parts ...[]byte) (uint32, bool) {
	n := 1
	for _, p := range parts {
		n += len(p)
	}
	if n > textChunkLen {
		return 0, false
	}
	if len(t.c) == 0 || len(t.c[len(t.c)-1])+n > textChunkLen {
		if (len(t.c)+1)<<textChunkShift > maxTextRef {
			return 0, false
		}
		t.c = append(t.c, make([]byte, 0, textChunkLen))
	}
	i := len(t.c) - 1
	ref := uint32(i<<textChunkShift | len(t.c[i]))
	for _, p := range parts {
		t.c[i] = append(t.c[i], p...)
	}
	t.c[i] = append(t.c[i], 0)
	t.n += n
	return ref, true
}

// get returns the string at ref.
func (t *textChunks) get(ref uint32) []byte {
	c := int(ref >> textChunkShift)
	if c >= len(t.c) {
		return nil
	}
	s := t.c[c][ref&(textChunkLen-1):]
	for i, b := range s {
		if b == 0 {
			return s[:i]
		}
	}
	return s
}

// trim drops the slack of the last chunk.
func (t *textChunks) trim() {
	if n := len(t.c); n > 0 {
		t.c[n-1] = append([]byte(nil), t.c[n-1]...)
	}
	t.c = append([][]byte(nil), t.c...)
}

func (t *textChunks) bytes() int {
	n := 24 * cap(t.c)
	for _, c := range t.c {
		n += cap(c)
	}
	return n
}
