package run

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kscope/kscope/internal/probe/codegen"
)

// renderValue turns the bytes a program stored for ntop, macaddr,
// username, strftime or buf into bpftrace's text.
func (s *Session) renderValue(r codegen.Render, b []byte) string {
	switch r.Kind {
	case codegen.RenderInet:
		if len(b) < 24 {
			return ""
		}
		if binary.LittleEndian.Uint64(b) == unix.AF_INET6 {
			return netip.AddrFrom16([16]byte(b[8:24])).String()
		}
		return netip.AddrFrom4([4]byte(b[8:12])).String()
	case codegen.RenderMac:
		return fmt.Sprintf("%02X:%02X:%02X:%02X:%02X:%02X", b[0], b[1], b[2], b[3], b[4], b[5])
	case codegen.RenderUser:
		return userName(uint32(binary.LittleEndian.Uint64(b)))
	case codegen.RenderTime:
		return Strftime(r.Format, monotonicToWall(int64(binary.LittleEndian.Uint64(b))))
	case codegen.RenderBuf:
		return escapeBuf(bufBytes(b))
	}
	return ""
}

// bufBytes returns the bytes of a stored buf(): a length, then the bytes.
func bufBytes(b []byte) rawBuf {
	n := binary.LittleEndian.Uint64(b)
	if n > uint64(len(b)-8) {
		n = uint64(len(b) - 8)
	}
	return rawBuf(b[8 : 8+n])
}

// rawBuf is a buf() printf prints: %r escapes it (escapeBuf), %rx prints
// every byte as \xNN, %rh as hex pairs separated by spaces.
type rawBuf []byte

// format prints b as printf's %r, %rx (x) or %rh (h) does.
func (b rawBuf) format(how byte) string {
	var sb strings.Builder
	for i, c := range b {
		switch how {
		case 'x':
			fmt.Fprintf(&sb, "\\x%02x", c)
		case 'h':
			if i > 0 {
				sb.WriteByte(' ')
			}
			fmt.Fprintf(&sb, "%02x", c)
		default:
			return escapeBuf(b)
		}
	}
	return sb.String()
}

// escapeBuf prints bytes as bpftrace's %r does: printable ASCII as is,
// any other byte as \xNN.
func escapeBuf(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		if c >= 32 && c <= 126 {
			sb.WriteByte(c)
		} else {
			fmt.Fprintf(&sb, "\\x%02x", c)
		}
	}
	return sb.String()
}

// monotonicToWall turns nanoseconds of CLOCK_MONOTONIC (nsecs) into
// wall-clock time.
func monotonicToWall(ns int64) time.Time {
	var mono, real unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &mono)
	unix.ClockGettime(unix.CLOCK_REALTIME, &real)
	return time.Unix(0, real.Nano()-mono.Nano()+ns)
}

var (
	usersOnce sync.Once
	users     map[uint32]string
)

// PasswdFile is where user names are looked up.
var PasswdFile = "/etc/passwd"

// userName returns the name /etc/passwd gives uid, or the uid in decimal.
func userName(uid uint32) string {
	usersOnce.Do(func() {
		users = map[uint32]string{}
		f, err := os.Open(PasswdFile)
		if err != nil {
			return
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Split(sc.Text(), ":")
			if len(fields) < 3 {
				continue
			}
			id, err := strconv.ParseUint(fields[2], 10, 32)
			if err != nil {
				continue
			}
			if _, dup := users[uint32(id)]; !dup {
				users[uint32(id)] = fields[0]
			}
		}
	})
	if n, ok := users[uid]; ok {
		return n
	}
	return strconv.FormatUint(uint64(uid), 10)
}

// maxCatBytes bounds what cat() prints of a file (bpftrace's
// max_cat_bytes default).
const maxCatBytes = 10240

// catFile returns the contents of a file for cat(), or an error line.
func catFile(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("kscope: cat(%q): %v\n", path, err)
	}
	defer f.Close()
	buf := make([]byte, maxCatBytes)
	n, _ := io.ReadFull(f, buf)
	return string(buf[:n])
}

// runSystem runs a command with /bin/sh for system() and returns its
// standard output.
func runSystem(command string) string {
	out, err := exec.Command("/bin/sh", "-c", command).Output()
	if err != nil && len(out) == 0 {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return fmt.Sprintf("kscope: system(%q): %v\n", command, err)
		}
	}
	return string(out)
}

// join joins the strings of a join() record with delim.
func join(rec []byte, delim string, strLen int) string {
	n := int(binary.LittleEndian.Uint64(rec[codegen.HeaderSize:]))
	parts := make([]string, 0, n)
	for i := 0; i < n && i < codegen.JoinArgs; i++ {
		off := codegen.HeaderSize + 8 + i*strLen
		if off+strLen > len(rec) {
			break
		}
		parts = append(parts, cstring(rec[off:off+strLen]))
	}
	return strings.Join(parts, delim)
}
