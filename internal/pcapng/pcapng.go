// Package pcapng writes packet captures as pcapng files that tcpdump,
// tshark and Wireshark read: the section header and one interface
// description block per interface through gopacket's pcapgo, and the
// enhanced packet blocks here, since pcapgo's writer has no per-packet
// options: each packet may carry a comment (opt_comment, shown by tshark
// as frame.comment) and its direction (epb_flags).
package pcapng

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// Interface is one interface of the file.
type Interface struct {
	Name     string
	LinkType layers.LinkType
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
	ng, err := pcapgo.NewNgWriterInterface(w, ngIface(ifaces[0]), pcapgo.NgWriterOptions{
		SectionInfo: pcapgo.NgSectionInfo{Hardware: runtime.GOARCH, OS: runtime.GOOS, Application: app}})
	if err != nil {
		return nil, fmt.Errorf("writing the pcapng section header: %w", err)
	}
	for _, ifc := range ifaces[1:] {
		if _, err := ng.AddInterface(ngIface(ifc)); err != nil {
			return nil, fmt.Errorf("writing the pcapng interface %s: %w", ifc.Name, err)
		}
	}
	if err := ng.Flush(); err != nil {
		return nil, fmt.Errorf("writing the pcapng header: %w", err)
	}
	return &Writer{w: bufio.NewWriterSize(w, 64<<10), n: len(ifaces)}, nil
}

func ngIface(ifc Interface) pcapgo.NgInterface {
	return pcapgo.NgInterface{Name: ifc.Name, OS: runtime.GOOS, LinkType: ifc.LinkType,
		SnapLength: ifc.Snaplen, TimestampResolution: 9}
}

// Direction is a packet's, for epb_flags.
type Direction uint32

const (
	Unknown  Direction = 0
	Inbound  Direction = 1
	Outbound Direction = 2
)

const (
	blockEPB    = 6
	optEnd      = 0
	optComment  = 1
	optEPBFlags = 2
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
	le := binary.LittleEndian
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
