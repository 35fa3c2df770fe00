package symbolize

// FuncOffsets returns, for each frame that Kernel (pid 0) or User (pid > 0)
// returned for addrs, the address's distance from the start of its
// function: bpftrace's "func+off". Frames without a function, and Go
// frames resolved through .gopclntab, get 0.
func (s *Symbolizer) FuncOffsets(pid uint32, addrs []uint64, frames []Frame) []uint64 {
	out := make([]uint64, len(addrs))
	if pid == 0 {
		s.mu.Lock()
		kt := s.kernel
		s.mu.Unlock()
		if kt == nil || kt.restricted {
			return out
		}
		for i, a := range addrs {
			if i >= len(frames) || frames[i].Function == "" {
				continue
			}
			j := 0
			for lo, hi := 0, kt.len(); lo < hi; {
				m := (lo + hi) / 2
				if kt.addr(m) > a {
					hi = m
				} else {
					lo, j = m+1, m
				}
			}
			start := kt.addr(j)
			if j+1 < kt.len() && kt.names.at(j+1)&padded != 0 && a >= kt.addr(j+1)-kt.pad {
				start = kt.addr(j+1) - kt.pad // in the "__pfx_" padding before j+1
			}
			if a >= start {
				out[i] = a - start
			}
		}
		return out
	}
	s.mu.Lock()
	p, ok := s.procs.get(pid)
	s.mu.Unlock()
	if !ok {
		return out
	}
	for i, a := range addrs {
		if i >= len(frames) || frames[i].Function == "" {
			continue
		}
		m := p.find(a)
		if m == nil || m.table == nil || m.anonymous() {
			continue
		}
		va, ok := m.table.vaddr(a - m.start + m.offset)
		if !ok {
			continue
		}
		if j := m.table.syms.find(va); j >= 0 {
			out[i] = va - m.table.syms.syms[j].addr
		}
	}
	return out
}
