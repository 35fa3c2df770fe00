package uprobe

import (
	"unsafe"

	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/event"
)

const recordSize = int(unsafe.Sizeof(uprobeUprobeEvent{}))

// decoder turns ring buffer records into *event.Uprobe or *event.USDT,
// reusing one event of each.
type decoder struct {
	clock  collector.Clock
	kind   string
	probe  string
	binary string
	str    bool
	signed [][]bool // USDT: per site, per argument
	raw    uprobeUprobeEvent
	up     event.Uprobe
	usdt   event.USDT
	args   [12]event.Int
	s      string
	ret    event.Int
}

// decode parses one record, a whole struct uprobe_event.
func (d *decoder) decode(b []byte) (event.Event, bool) {
	if len(b) < recordSize {
		return nil, false
	}
	raw := &d.raw
	copy(unsafe.Slice((*byte)(unsafe.Pointer(raw)), recordSize), b)
	if int(raw.Nargs) > len(raw.Args) || raw.StrLen > uint32(len(raw.Str)) {
		return nil, false
	}
	h := collector.HeaderOf(&raw.Hdr)
	// Registers are shown signed; USDT arguments arrive sized and
	// sign-extended by their spec, and are shown as it says.
	args := d.args[:raw.Nargs]
	for i := range args {
		args[i] = event.Int{V: raw.Args[i], Signed: true}
	}
	if d.kind == KindUSDT {
		if int(raw.Site) >= len(d.signed) || len(d.signed[raw.Site]) < len(args) {
			return nil, false
		}
		for i := range args {
			args[i].Signed = d.signed[raw.Site][i]
		}
	}
	var str *string
	unavailable := d.str && raw.HasStr != 0 && raw.StrUnavailable != 0
	if d.str && raw.HasStr != 0 && !unavailable {
		d.s = collector.CString(raw.Str[:raw.StrLen])
		str = &d.s
	}
	if d.kind == KindUSDT {
		e := &d.usdt
		h.Fill(&e.Header, KindUSDT, d.clock)
		e.Probe, e.Binary, e.Args, e.Str, e.StrTruncated = d.probe, d.binary, args, str, raw.StrTrunc != 0
		e.StrUnavailable = unavailable
		return e, true
	}
	e := &d.up
	h.Fill(&e.Header, KindUprobe, d.clock)
	e.Probe, e.Args, e.Str, e.StrTruncated = d.probe, args, str, raw.StrTrunc != 0
	e.StrUnavailable = unavailable
	e.Ret, e.LatencyNS = nil, 0
	if raw.HasRet != 0 {
		d.ret = event.Int{V: raw.Ret, Signed: true}
		e.Ret, e.LatencyNS = &d.ret, raw.LatencyNs
	}
	return e, true
}
