package http

import (
	"syscall"

	"github.com/kscope/kscope/internal/collector"
)

// Examined says whether c examined the file at path for TLS functions,
// and probed whether it attached uprobes to it.
func Examined(c collector.Collector, path string) (examined, probed bool) {
	var st syscall.Stat_t
	if syscall.Stat(path, &st) != nil {
		return false, false
	}
	id := fileID{st.Dev, st.Ino, st.Mtim.Nano()}
	a := c.(*Collector).att
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.seen[id], a.probed[id]
}
