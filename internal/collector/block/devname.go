package block

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Kernel device numbers as the block layer keeps them (MKDEV): the major
// above bit 20, the minor below.
func devMajor(dev uint32) uint32 { return dev >> 20 }
func devMinor(dev uint32) uint32 { return dev & (1<<20 - 1) }

// mkdev is the kernel's MKDEV.
func mkdev(major, minor uint32) uint32 { return major<<20 | minor&(1<<20-1) }

// nameRefresh is how long a resolved name is trusted before it is looked
// up again: a removed device's number may come back under another name.
const nameRefresh = time.Minute

// devNames resolves block device numbers to the kernel's names ("vda",
// "loop0", "nvme0n1"): /sys/dev/block/MAJ:MIN/uevent (DEVNAME), else
// /proc/partitions. Names are cached; a number nobody knows is shown as
// "MAJ:MIN" and looked up again on the next call, and a device that went
// away keeps its last name.
type devNames struct {
	sysfs, procfs string // roots, "/sys" and "/proc" but for fixtures
	now           func() time.Time
	cache         map[uint32]cachedName
}

type cachedName struct {
	name string
	at   time.Time
}

func newDevNames(sysfs, procfs string) *devNames {
	return &devNames{sysfs: sysfs, procfs: procfs, now: time.Now, cache: map[uint32]cachedName{}}
}

// name returns the device's name.
func (d *devNames) name(dev uint32) string {
	now := d.now()
	c, cached := d.cache[dev]
	if cached && now.Sub(c.at) < nameRefresh {
		return c.name
	}
	name := d.lookup(dev)
	switch {
	case name != "":
		d.cache[dev] = cachedName{name, now}
		return name
	case cached:
		return c.name
	}
	return fmt.Sprintf("%d:%d", devMajor(dev), devMinor(dev))
}

func (d *devNames) lookup(dev uint32) string {
	id := fmt.Sprintf("%d:%d", devMajor(dev), devMinor(dev))
	if b, err := os.ReadFile(filepath.Join(d.sysfs, "dev/block", id, "uevent")); err == nil {
		if name := parseUevent(b); name != "" {
			return name
		}
	}
	if b, err := os.ReadFile(filepath.Join(d.procfs, "partitions")); err == nil {
		return parsePartitions(b, devMajor(dev), devMinor(dev))
	}
	return ""
}

// parseUevent returns DEVNAME from a sysfs uevent file ("MAJOR=254\n
// MINOR=0\nDEVNAME=vda\nDEVTYPE=disk\n"), or "".
func parseUevent(b []byte) string {
	for _, line := range bytes.Split(b, []byte{'\n'}) {
		if v, ok := bytes.CutPrefix(line, []byte("DEVNAME=")); ok {
			return cleanName(string(v))
		}
	}
	return ""
}

// parsePartitions returns the name of major:minor in /proc/partitions
// ("major minor  #blocks  name" then one device a line), or "".
func parsePartitions(b []byte, major, minor uint32) string {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 4 {
			continue
		}
		ma, err1 := strconv.ParseUint(f[0], 10, 32)
		mi, err2 := strconv.ParseUint(f[1], 10, 32)
		if err1 == nil && err2 == nil && uint32(ma) == major && uint32(mi) == minor {
			return cleanName(f[3])
		}
	}
	return ""
}

// cleanName keeps a name usable as a label value: printable, one line.
func cleanName(s string) string {
	s = strings.TrimSpace(s)
	if strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return ""
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// wholeDisk returns the disk that holds major:minor: the device itself when
// it is a disk, its parent when it is a partition (sysfs has a "partition"
// file then). The block layer issues a partition's requests on its disk's
// queue, and this collector labels them with the disk.
func wholeDisk(sysfs string, major, minor uint32) (uint32, error) {
	dir := filepath.Join(sysfs, "dev/block", fmt.Sprintf("%d:%d", major, minor))
	if _, err := os.Stat(filepath.Join(dir, "partition")); err != nil {
		if _, err := os.Stat(dir); err != nil {
			return 0, fmt.Errorf("resolving device %d:%d: %w", major, minor, err)
		}
		return mkdev(major, minor), nil
	}
	// dev/block/MAJ:MIN links to the partition's directory, which sits
	// inside its disk's.
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return 0, fmt.Errorf("resolving device %d:%d: %w", major, minor, err)
	}
	b, err := os.ReadFile(filepath.Join(filepath.Dir(real), "dev"))
	if err != nil {
		return 0, fmt.Errorf("reading the disk of partition %d:%d: %w", major, minor, err)
	}
	ma, mi, ok := strings.Cut(strings.TrimSpace(string(b)), ":")
	dma, err1 := strconv.ParseUint(ma, 10, 32)
	dmi, err2 := strconv.ParseUint(mi, 10, 32)
	if !ok || err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parsing the disk of partition %d:%d: %q", major, minor, b)
	}
	return mkdev(uint32(dma), uint32(dmi)), nil
}
