package tcp

import (
	"encoding/binary"
	"testing"
	"unicode/utf8"
)

func key(family uint16, laddr, raddr []byte, lport, rport uint16) tcpEndpointKey {
	k := tcpEndpointKey{Family: family, Lport: lport, Rport: rport}
	copy(k.Laddr[:], laddr)
	copy(k.Raddr[:], raddr)
	return k
}

func TestEndpointLabels(t *testing.T) {
	v6 := []byte{0x20, 0x01, 0x0d, 0xb8, 15: 1}
	mapped := []byte{10: 0xff, 11: 0xff, 12: 10, 13: 0, 14: 0, 15: 7}
	loop6 := []byte{15: 1}
	for _, tc := range []struct {
		name string
		k    tcpEndpointKey
		want [4]string
	}{
		{"active ipv4", key(afInet, []byte{10, 0, 0, 1}, []byte{192, 168, 1, 2}, 0, 443),
			[4]string{"10.0.0.1", "", "192.168.1.2", "443"}},
		{"passive ipv4", key(afInet, []byte{127, 0, 0, 1}, []byte{127, 0, 0, 1}, 8080, 0),
			[4]string{"127.0.0.1", "8080", "127.0.0.1", ""}},
		{"ipv6", key(afInet6, loop6, v6, 0, 65535),
			[4]string{"::1", "", "2001:db8::1", "65535"}},
		{"ipv4-mapped", key(afInet6, mapped, mapped, 22, 0),
			[4]string{"10.0.0.7", "22", "10.0.0.7", ""}},
		{"unknown family", key(99, nil, nil, 1, 2),
			[4]string{"family99", "1", "family99", "2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := endpointLabels(&tc.k); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseStates(t *testing.T) {
	b := make([]byte, nStates*8)
	for i := range nStates {
		binary.LittleEndian.PutUint64(b[i*8:], uint64(i*10))
	}
	s, err := parseStates(b)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range s {
		if n != uint64(i*10) {
			t.Errorf("state %d: %d", i, n)
		}
	}
	for _, n := range []int{0, 8, nStates*8 - 1, nStates*8 + 1} {
		if _, err := parseStates(make([]byte, n)); err == nil {
			t.Errorf("%d bytes accepted", n)
		}
	}
}

func TestFoldStates(t *testing.T) {
	var s [nStates]uint64
	for i := range s {
		s[i] = 1 << i
	}
	got := foldStates(s)
	want := map[string]uint64{
		"established": 1 << tcpEstablished, "syn_sent": 1 << tcpSynSent,
		"syn_recv": 1<<tcpSynRecv | 1<<tcpNewSynRecv, "fin_wait1": 1 << tcpFinWait1,
		"fin_wait2": 1 << tcpFinWait2, "time_wait": 1 << tcpTimeWait, "close_wait": 1 << tcpCloseWait,
		"last_ack": 1 << tcpLastAck, "listen": 1 << tcpListen, "closing": 1 << tcpClosing,
	}
	if len(want) != len(stateNames) {
		t.Fatalf("%d names, %d wanted", len(stateNames), len(want))
	}
	for i, name := range stateNames {
		if got[i] != want[name] {
			t.Errorf("%s: %#x, want %#x", name, got[i], want[name])
		}
	}
}

func TestErrnoLabel(t *testing.T) {
	for errno, want := range map[uint32]string{0: "none", 111: "ECONNREFUSED", 110: "ETIMEDOUT",
		113: "EHOSTUNREACH", 4095: "E4095"} {
		if got := errnoLabel(errno); got != want {
			t.Errorf("%d: %q, want %q", errno, got, want)
		}
	}
}

// Any key gives four valid label values, and keyString tells keys apart.
func FuzzEndpointLabels(f *testing.F) {
	f.Add([]byte{}, []byte{})
	f.Add(make([]byte, 38), make([]byte, 38))
	f.Add([]byte{2, 0, 10, 0, 0, 1}, []byte{10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, a, b []byte) {
		ka, kb := fuzzKey(a), fuzzKey(b)
		for _, v := range endpointLabels(&ka) {
			if !utf8.ValidString(v) {
				t.Errorf("invalid label value %q", v)
			}
		}
		if (ka == kb) != (keyString(&ka) == keyString(&kb)) {
			t.Errorf("keys %+v and %+v: equal %v, key strings equal %v", ka, kb, ka == kb, keyString(&ka) == keyString(&kb))
		}
	})
}

func fuzzKey(b []byte) tcpEndpointKey {
	var raw [38]byte
	copy(raw[:], b)
	var k tcpEndpointKey
	copy(k.Laddr[:], raw[0:16])
	copy(k.Raddr[:], raw[16:32])
	k.Lport = binary.LittleEndian.Uint16(raw[32:])
	k.Rport = binary.LittleEndian.Uint16(raw[34:])
	k.Family = binary.LittleEndian.Uint16(raw[36:])
	return k
}

func FuzzParseStates(f *testing.F) {
	f.Add(make([]byte, nStates*8))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseStates(b)
		if (err == nil) != (len(b) == nStates*8) {
			t.Fatalf("%d bytes: %v", len(b), err)
		}
		if err == nil && s[nStates-1] != binary.LittleEndian.Uint64(b[len(b)-8:]) {
			t.Fatal("last state misread")
		}
	})
}
