package collector

import "github.com/cilium/ebpf/link"

// AddLink hands a link attached outside AttachAll (uprobes, USDT) to the
// Tracer, which closes it with the others.
func (t *Tracer) AddLink(l link.Link) { t.links.Add(l) }
