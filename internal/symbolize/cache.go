package symbolize

import "sync"

// frameCacheSize is the number of user frames cached, process-wide.
const frameCacheSize = 4096

// frames caches what file table lookups read from files (names, demangled,
// and source lines), so that the frames a profile repeats cost no reads.
var frames frameCache

// frameCache is a direct-mapped cache keyed by table and pc (Go) or
// symbol index (ELF): bounded, and a slot costs no allocation beyond its
// strings. Keys hold table ids, not tables, so that cached frames do not
// keep tables, and their files, alive.
type frameCache struct {
	mu   sync.Mutex
	ents []cacheEnt // allocated on first use
}

type cached struct {
	fn, file string
	line     int
}

type cacheEnt struct {
	table, key uint64 // table 0: empty
	cached
}

func slot(table, key uint64) int {
	h := (table*0x9e3779b97f4a7c15 ^ key) * 0xbf58476d1ce4e5b9
	return int(h >> 52) // 12 bits: frameCacheSize
}

func (c *frameCache) get(table, key uint64) (cached, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ents == nil {
		return cached{}, false
	}
	e := &c.ents[slot(table, key)]
	if e.table != table || e.key != key {
		return cached{}, false
	}
	return e.cached, true
}

func (c *frameCache) put(table, key uint64, v cached) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ents == nil {
		c.ents = make([]cacheEnt, frameCacheSize)
	}
	c.ents[slot(table, key)] = cacheEnt{table: table, key: key, cached: v}
}
