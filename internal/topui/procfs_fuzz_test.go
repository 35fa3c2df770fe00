package topui

import (
	"bytes"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// FuzzParseStartTicks builds /proc/PID/stat lines around any comm (with
// spaces, parentheses, newlines) and checks that field 22 comes back.
func FuzzParseStartTicks(f *testing.F) {
	f.Add("bash", uint64(123456), "S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 7 0")
	f.Add("my (weird) proc) S 9", uint64(0), "R 0 1 1 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0")
	f.Add(")\n)", uint64(1<<63), "Z 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18")
	f.Fuzz(func(t *testing.T, comm string, start uint64, mid string) {
		if len(strings.Fields(mid)) != 19 || strings.ContainsRune(mid, ')') {
			return // fields 3 to 21 are numbers and a state letter
		}
		line := fmt.Sprintf("4242 (%s) %s %d 1000 100 0 0\n", comm, mid, start)
		got, err := parseStartTicks([]byte(line))
		if err != nil || got != start {
			t.Fatalf("%q: %d, %v; want %d", line, got, err, start)
		}
	})
}

// FuzzParseStat checks /proc/stat's reading: whatever the other lines,
// the CPU lines are counted and btime read back.
func FuzzParseStat(f *testing.F) {
	f.Add([]byte("cpu  1 2 3\nintr 5\n"), uint8(2), int64(1700000000))
	f.Add([]byte("btime x\ncpuX 1\n"), uint8(0), int64(-1))
	f.Add([]byte(""), uint8(64), int64(1))
	f.Fuzz(func(t *testing.T, other []byte, cpus uint8, btime int64) {
		var keep [][]byte
		for _, l := range bytes.Split(other, []byte("\n")) {
			if !bytes.HasPrefix(l, []byte("cpu")) && !bytes.HasPrefix(l, []byte("btime")) && len(l) < 1000 {
				keep = append(keep, l)
			}
		}
		var b bytes.Buffer
		for i := range int(cpus) {
			fmt.Fprintf(&b, "cpu%d 1 2 3 4\n", i)
			if i < len(keep) {
				b.Write(keep[i])
				b.WriteByte('\n')
			}
		}
		for _, l := range keep[min(len(keep), int(cpus)):] {
			b.Write(l)
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "btime %d\n", btime)
		n, bt, err := parseStat(b.Bytes())
		if btime == 0 {
			if err == nil {
				t.Fatalf("btime 0 accepted")
			}
			return
		}
		if err != nil || n != int(cpus) || bt != btime {
			t.Fatalf("%q: %d cpus, btime %d, %v; want %d, %d", b.Bytes(), n, bt, err, cpus, btime)
		}
	})
}

// FuzzParseLoadavg checks that what parseLoadavg accepts prints back to a
// line it reads the same.
func FuzzParseLoadavg(f *testing.F) {
	for _, s := range []string{"0.52 0.40 0.33 3/213 4567\n", "1 2 3 4/5", "NaN Inf -1 -2/-3 x", "0.1 0.2 0.3 3213", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		load, r, n, err := parseLoadavg([]byte(s))
		if err != nil {
			return
		}
		if len(load) != 3 {
			t.Fatalf("%q: %d load averages", s, len(load))
		}
		again := fmt.Sprintf("%s %s %s %d/%d 1\n", ff(load[0]), ff(load[1]), ff(load[2]), r, n)
		load2, r2, n2, err := parseLoadavg([]byte(again))
		if err != nil || r2 != r || n2 != n || fmt.Sprint(load2) != fmt.Sprint(load) {
			t.Fatalf("%q read as %v %d/%d printed as %q reads %v %d/%d, %v", s, load, r, n, again, load2, r2, n2, err)
		}
	})
}

func ff(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// FuzzParsePasswd checks that the users parsePasswd finds print back to a
// passwd file it reads the same, and that each came from a line of the
// input.
func FuzzParsePasswd(f *testing.F) {
	f.Add([]byte("root:x:0:0:root:/root:/bin/bash\n#c:x:5\nnobody:x:65534:65534::/:/sbin/nologin\nroot2:x:0:\nbad:x:-1\n"))
	f.Add([]byte("a:b:4294967296\n:x:7\n\xff:x:8\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		users := parsePasswd(b)
		uids := make([]int, 0, len(users))
		for uid := range users {
			uids = append(uids, int(uid))
		}
		sort.Ints(uids)
		var out bytes.Buffer
		for _, uid := range uids {
			name := users[uint32(uid)]
			if strings.ContainsAny(name, ":\n") || !bytes.Contains(b, []byte(name+":")) {
				t.Fatalf("%q: user %q (%d)", b, name, uid)
			}
			fmt.Fprintf(&out, "%s:x:%d:0::/:/bin/sh\n", name, uid)
		}
		if again := parsePasswd(out.Bytes()); !reflect.DeepEqual(again, users) {
			t.Fatalf("%q read as %v printed as %q reads %v", b, users, out.Bytes(), again)
		}
	})
}
