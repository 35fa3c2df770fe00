package http

import (
	"crypto/tls"
	"net"
	"reflect"
	"testing"
	"unsafe"
)

// The kernel side follows *tls.Conn → net.Conn → *net.TCPConn → *netFD →
// poll.FD.Sysfd at fixed offsets. Check them against this Go's types:
// the offset of tls.Conn's first field (conn, an interface: its data word
// is the second), of net.TCPConn's conn.fd and of netFD's pfd.Sysfd.
func TestGoConnOffsets(t *testing.T) {
	var iface net.Conn = &net.TCPConn{}
	if got := unsafe.Sizeof(iface); got != 16 {
		t.Fatalf("an interface is %d bytes", got)
	}
	tlsConn := reflect.TypeOf(struct{ conn net.Conn }{})
	if f := tlsConn.Field(0); f.Offset+8 != goConnDataOff {
		t.Errorf("interface data word at %d, kernel side reads %d", f.Offset+8, goConnDataOff)
	}
	tcp := reflect.TypeOf(net.TCPConn{})
	conn := tcp.Field(0)
	if conn.Name != "conn" || conn.Offset != 0 {
		t.Fatalf("net.TCPConn starts with %s at %d", conn.Name, conn.Offset)
	}
	fd := conn.Type.Field(0)
	if fd.Name != "fd" || fd.Offset != goNetFDOff || fd.Type.Kind() != reflect.Pointer {
		t.Fatalf("net.conn: field %s at %d (%s), kernel side reads %d", fd.Name, fd.Offset, fd.Type, goNetFDOff)
	}
	pfd, ok := fd.Type.Elem().FieldByName("pfd")
	if !ok {
		t.Fatal("netFD has no pfd")
	}
	sysfd, ok := pfd.Type.FieldByName("Sysfd")
	if !ok {
		t.Fatal("poll.FD has no Sysfd")
	}
	if got := pfd.Offset + sysfd.Offset; got != goSysfdOff || sysfd.Type.Size() != 8 {
		t.Errorf("netFD.pfd.Sysfd at %d (%d bytes), kernel side reads %d", got, sysfd.Type.Size(), goSysfdOff)
	}
	// tls.Conn itself: its first field must be the net.Conn.
	if f := reflect.TypeOf(tlsConnZero()).Elem().Field(0); f.Name != "conn" || f.Type != reflect.TypeOf((*net.Conn)(nil)).Elem() || f.Offset != 0 {
		t.Errorf("tls.Conn starts with %s %s at %d", f.Name, f.Type, f.Offset)
	}
}

func tlsConnZero() any { return (*tls.Conn)(nil) }
