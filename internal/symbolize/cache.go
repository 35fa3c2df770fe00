package symbolize

import "sync"

// frameCacheSize is the number of user frames cached, process-wide.
const frameCacheSize = 4096

// frames caches what file table lookups read from files (names, demangled,
// and source lines), so that the frames a profile repeats cost no reads.
var frames frameCache

// frameCache is a 4-way set-associative cache keyed by table and pc (Go)
// or symbol index (ELF), least recently used first out of a set: bounded,
// and a slot costs no allocation beyond its strings. Keys hold table ids,
// not tables, so that cached frames do not keep tables, and their files,
// alive.
type frameCache struct {
	mu   sync.Mutex
	ents []cacheEnt // sets of cacheWays, most recent first; allocated on first use
}

const cacheWays = 4

type cached struct {
	fn, file string
	line     int
}

type cacheEnt struct {
	table, key uint64 // table 0: empty
	cached
}

func set(table, key uint64) int {
	h := (table*0x9e3779b97f4a7c15 ^ key) * 0xbf58476d1ce4e5b9
	return int(h>>40) % (frameCacheSize / cacheWays) * cacheWays
}

func (c *frameCache) get(table, key uint64) (cached, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ents == nil {
		return cached{}, false
	}
	ways := c.ents[set(table, key):][:cacheWays]
	for i := range ways {
		if ways[i].table == table && ways[i].key == key {
			e := ways[i]
			copy(ways[1:i+1], ways[:i])
			ways[0] = e
			return e.cached, true
		}
	}
	return cached{}, false
}

func (c *frameCache) put(table, key uint64, v cached) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ents == nil {
		c.ents = make([]cacheEnt, frameCacheSize)
	}
	ways := c.ents[set(table, key):][:cacheWays]
	copy(ways[1:], ways[:cacheWays-1])
	ways[0] = cacheEnt{table: table, key: key, cached: v}
}
