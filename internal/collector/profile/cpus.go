package profile

import (
	"fmt"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

const unsafeSizeofPerfEventAttr = unsafe.Sizeof(unix.PerfEventAttr{})

// maxCPUs bounds a CPU list, against a corrupt or hostile one.
const maxCPUs = 1 << 16

// parseCPUList parses a kernel CPU list such as "0-3,5,7-8" (as in
// /sys/devices/system/cpu/online) into CPU numbers, in order.
func parseCPUList(s string) ([]int, error) {
	if s == "" {
		return nil, fmt.Errorf("empty CPU list")
	}
	var cpus []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("CPU list %q: bad CPU %q", s, lo)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("CPU list %q: bad range %q", s, part)
			}
		}
		if b >= maxCPUs || len(cpus)+b-a+1 > maxCPUs {
			return nil, fmt.Errorf("CPU list %q: more than %d CPUs", s, maxCPUs)
		}
		for c := a; c <= b; c++ {
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
}
