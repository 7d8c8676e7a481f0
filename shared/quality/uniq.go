package quality

import "math"

// DefaultUniqueKeys is how many keys a uniqueness rule remembers per file
// or window unless UniqueKeys says otherwise: 786,432 keys fill a table
// of 2^20 slots to three quarters, 12 MiB (8 bytes of hash and 4 of line
// per slot). Past it, rows are still checked against the keys remembered
// but their own keys are not added, and the rule's metadata says so.
const DefaultUniqueKeys = 3 << 18

// keySet is a set of 64-bit key hashes with the line each was first seen
// on: open addressing with linear probing, growing by doubling up to the
// table that holds limit keys at three quarters full (slotsFor(limit)
// slots of 12 bytes: 12 MiB for DefaultUniqueKeys, and under 32 bytes per
// key of limit for any limit). It never holds more than limit keys. Two
// different keys share a hash with probability about n²/2^65 over n keys
// (one in 10^7 for a million), which would report a row as repeating one
// it does not.
type keySet struct {
	hashes []uint64 // 0 marks an empty slot
	lines  []uint32
	n      int
	limit  int
	full   bool // a key was left out for the limit
}

func newKeySet(limit int) *keySet {
	return &keySet{limit: limit}
}

// slotsFor is the table size for n keys: a power of two at least 4/3 n.
func slotsFor(n int) int {
	s := 16
	for s*3/4 < n {
		s *= 2
	}
	return s
}

// lookup returns the line h was first seen on, or 0 and false.
func (s *keySet) lookup(h uint64) (int, bool) {
	if s.n == 0 {
		return 0, false
	}
	h = nonZero(h)
	mask := uint64(len(s.hashes) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch s.hashes[i] {
		case h:
			return int(s.lines[i]), true
		case 0:
			return 0, false
		}
	}
}

// add records h, first seen on line, unless the set is at its limit. The
// caller has checked that h is not in the set.
func (s *keySet) add(h uint64, line int) {
	if s.n >= s.limit {
		s.full = true
		return
	}
	if (s.n+1)*4 > len(s.hashes)*3 {
		s.grow()
	}
	h = nonZero(h)
	mask := uint64(len(s.hashes) - 1)
	i := h & mask
	for s.hashes[i] != 0 {
		i = (i + 1) & mask
	}
	s.hashes[i] = h
	s.lines[i] = uint32(min(max(line, 0), math.MaxUint32))
	s.n++
}

func (s *keySet) grow() {
	size := 16
	if len(s.hashes) > 0 {
		size = len(s.hashes) * 2
	}
	// Never past what limit keys need.
	size = min(size, slotsFor(s.limit))
	old, oldLines := s.hashes, s.lines
	s.hashes, s.lines = make([]uint64, size), make([]uint32, size)
	mask := uint64(size - 1)
	for j, h := range old {
		if h == 0 {
			continue
		}
		i := h & mask
		for s.hashes[i] != 0 {
			i = (i + 1) & mask
		}
		s.hashes[i], s.lines[i] = h, oldLines[j]
	}
}

// bytes is the memory the set's table holds.
func (s *keySet) bytes() int { return len(s.hashes)*8 + len(s.lines)*4 }

// nonZero keeps 0 free to mark empty slots.
func nonZero(h uint64) uint64 {
	if h == 0 {
		return 1
	}
	return h
}
