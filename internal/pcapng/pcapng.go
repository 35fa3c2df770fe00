// Package pcapng writes packet captures as pcapng files that tcpdump,
// tshark and Wireshark read: a section header block, one interface
// description block per interface (nanosecond timestamps), then enhanced
// packet blocks, each of which may carry a comment (opt_comment, shown by
// tshark as frame.comment) and its direction (epb_flags).
package pcapng

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"runtime"
	"time"
)

// LinkType is an interface's link-layer header type (the LINKTYPE_ values
// of pcap and pcapng).
type LinkType uint16

// LinkEthernet is LINKTYPE_ETHERNET.
const LinkEthernet LinkType = 1

// Interface is one interface of the file.
type Interface struct {
	Name     string
	LinkType LinkType
	Snaplen  uint32
}

// Writer writes one section with its interfaces, then packets.
type Writer struct {
	w   *bufio.Writer
	n   int // interfaces
	buf []byte
}

// NewWriter writes the section header (application: app) and the
// interfaces' description blocks, in order: a packet's interface is its
// index in ifaces. Timestamps are in nanoseconds.
func NewWriter(w io.Writer, app string, ifaces []Interface) (*Writer, error) {
	if len(ifaces) == 0 {
		return nil, fmt.Errorf("writing a pcapng header: no interface")
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	hdr := block(nil, blockSHB, func(b []byte) []byte {
		b = le.AppendUint32(b, byteOrderMagic)
		b = le.AppendUint16(b, 1)          // major version
		b = le.AppendUint16(b, 0)          // minor version
		b = le.AppendUint64(b, ^uint64(0)) // section length: not given
		b = option(b, optSHBHardware, runtime.GOARCH)
		b = option(b, optSHBOS, runtime.GOOS)
		b = option(b, optSHBUserAppl, app)
		return le.AppendUint32(b, optEnd)
	})
	for _, ifc := range ifaces {
		hdr = block(hdr, blockIDB, func(b []byte) []byte {
			b = le.AppendUint16(b, uint16(ifc.LinkType))
			b = le.AppendUint16(b, 0) // reserved
			b = le.AppendUint32(b, ifc.Snaplen)
			b = option(b, optIfName, ifc.Name)
			b = option(b, optIfTsresol, "\x09") // 10^-9 s
			b = option(b, optIfOS, runtime.GOOS)
			return le.AppendUint32(b, optEnd)
		})
	}
	if _, err := bw.Write(hdr); err != nil {
		return nil, fmt.Errorf("writing the pcapng header: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("writing the pcapng header: %w", err)
	}
	return &Writer{w: bw, n: len(ifaces)}, nil
}

var le = binary.LittleEndian

const byteOrderMagic = 0x1a2b3c4d

// block appends a block of type typ whose body body appends, with its
// total length before and after.
func block(b []byte, typ uint32, body func([]byte) []byte) []byte {
	start := len(b)
	b = le.AppendUint32(b, typ)
	b = le.AppendUint32(b, 0) // total length, set below
	b = body(b)
	total := uint32(len(b) - start + 4)
	le.PutUint32(b[start+4:], total)
	return le.AppendUint32(b, total)
}

// option appends one option, padded to 32 bits; an empty value none.
func option(b []byte, code uint16, v string) []byte {
	if v == "" {
		return b
	}
	if len(v) > 0xffff {
		v = v[:0xffff]
	}
	b = le.AppendUint16(b, code)
	b = le.AppendUint16(b, uint16(len(v)))
	b = append(b, v...)
	return append(b, make([]byte, pad4(len(v)))...)
}

// Direction is a packet's, for epb_flags.
type Direction uint32

const (
	Unknown  Direction = 0
	Inbound  Direction = 1
	Outbound Direction = 2
)

const (
	blockSHB = 0x0a0d0d0a
	blockIDB = 1
	blockEPB = 6

	optEnd         = 0
	optComment     = 1
	optEPBFlags    = 2
	optSHBHardware = 2
	optSHBOS       = 3
	optSHBUserAppl = 4
	optIfName      = 2
	optIfTsresol   = 9
	optIfOS        = 12
)

func pad4(n int) int { return (4 - n&3) & 3 }

// WritePacket writes one enhanced packet block: data (the captured bytes)
// of a packet origLen long, seen at t on interface iface, with a comment
// when not empty.
func (w *Writer) WritePacket(iface int, t time.Time, origLen int, data []byte, dir Direction, comment string) error {
	if iface < 0 || iface >= w.n {
		return fmt.Errorf("writing a packet of interface %d: the file has %d", iface, w.n)
	}
	if len(comment) > 0xffff {
		comment = comment[:0xffff]
	}
	optLen := 4 // end of options
	if comment != "" {
		optLen += 4 + len(comment) + pad4(len(comment))
	}
	if dir != Unknown {
		optLen += 8
	}
	total := 28 + len(data) + pad4(len(data)) + optLen + 4
	b := w.buf[:0]
	ts := uint64(t.UnixNano())
	b = le.AppendUint32(b, blockEPB)
	b = le.AppendUint32(b, uint32(total))
	b = le.AppendUint32(b, uint32(iface))
	b = le.AppendUint32(b, uint32(ts>>32))
	b = le.AppendUint32(b, uint32(ts))
	b = le.AppendUint32(b, uint32(len(data)))
	b = le.AppendUint32(b, uint32(origLen))
	b = append(b, data...)
	b = append(b, make([]byte, pad4(len(data)))...)
	if comment != "" {
		b = le.AppendUint16(b, optComment)
		b = le.AppendUint16(b, uint16(len(comment)))
		b = append(b, comment...)
		b = append(b, make([]byte, pad4(len(comment)))...)
	}
	if dir != Unknown {
		b = le.AppendUint16(b, optEPBFlags)
		b = le.AppendUint16(b, 4)
		b = le.AppendUint32(b, uint32(dir))
	}
	b = le.AppendUint32(b, optEnd)
	b = le.AppendUint32(b, uint32(total))
	w.buf = b
	_, err := w.w.Write(b)
	return err
}

// Flush writes what is buffered.
func (w *Writer) Flush() error { return w.w.Flush() }
