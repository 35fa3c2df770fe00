package flows

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// seedOwners gives the sockets that existed before the collector started
// (a server's listening socket, above all: the connections it accepts
// take its owner) an entry in the owners map, as the hooks would have
// made when they were created. It walks procRoot's processes' file
// descriptors, takes a copy of each IPv4 or IPv6 socket (pidfd_getfd,
// Linux 5.6+) to read its cookie (SO_COOKIE), and adds what the map has
// no entry for, at most limit entries. cgroupRoot is the cgroup v2 mount,
// for the processes' cgroup ids. Processes that exit meanwhile, or whose
// descriptors cannot be copied, are skipped; it returns how many sockets
// it added.
func seedOwners(owners *ebpf.Map, procRoot, cgroupRoot string, limit int) (int, error) {
	ents, err := os.ReadDir(procRoot)
	if err != nil {
		return 0, err
	}
	cgroupIDs := map[string]uint64{}
	added := 0
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		fdDir := filepath.Join(procRoot, e.Name(), "fd")
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			continue
		}
		var o *flowsOwner
		pidfd := -1
		for _, fd := range fds {
			if added >= limit {
				break
			}
			link, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
			if err != nil || !strings.HasPrefix(link, "socket:[") {
				continue
			}
			n, err := strconv.Atoi(fd.Name())
			if err != nil {
				continue
			}
			if pidfd < 0 {
				if pidfd, err = unix.PidfdOpen(pid, 0); err != nil {
					break
				}
			}
			cookie, ok := socketCookie(pidfd, n)
			if !ok {
				continue
			}
			if o == nil {
				if o = procOwner(procRoot, cgroupRoot, pid, cgroupIDs); o == nil {
					break
				}
			}
			err = owners.Update(cookie, o, ebpf.UpdateNoExist)
			if err == nil {
				added++
			} else if !errors.Is(err, ebpf.ErrKeyExist) {
				unix.Close(pidfd)
				return added, err
			}
		}
		if pidfd >= 0 {
			unix.Close(pidfd)
		}
		if added >= limit {
			break
		}
	}
	return added, nil
}

// socketCookie copies fd of the process behind pidfd and returns its
// socket cookie when it is an IPv4 or IPv6 socket.
func socketCookie(pidfd, fd int) (uint64, bool) {
	c, err := unix.PidfdGetfd(pidfd, fd, 0)
	if err != nil {
		return 0, false
	}
	defer unix.Close(c)
	dom, err := unix.GetsockoptInt(c, unix.SOL_SOCKET, unix.SO_DOMAIN)
	if err != nil || dom != unix.AF_INET && dom != unix.AF_INET6 {
		return 0, false
	}
	cookie, err := unix.GetsockoptUint64(c, unix.SOL_SOCKET, unix.SO_COOKIE)
	return cookie, err == nil
}

// procOwner reads a process's owner record from procRoot: its comm, uid
// and cgroup v2 id (the inode of its cgroup's directory); nil when it is
// gone.
func procOwner(procRoot, cgroupRoot string, pid int, ids map[string]uint64) *flowsOwner {
	dir := filepath.Join(procRoot, strconv.Itoa(pid))
	comm, err := os.ReadFile(filepath.Join(dir, "comm"))
	if err != nil {
		return nil
	}
	o := &flowsOwner{Pid: uint32(pid), Tid: uint32(pid)}
	copy(o.Comm[:len(o.Comm)-1], bytes.TrimSuffix(comm, []byte("\n")))
	if st, err := os.Stat(dir); err == nil {
		o.Uid = st.Sys().(*syscall.Stat_t).Uid
	}
	if f, err := os.Open(filepath.Join(dir, "cgroup")); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			path, ok := strings.CutPrefix(sc.Text(), "0::")
			if !ok || cgroupRoot == "" {
				continue
			}
			id, seen := ids[path]
			if !seen {
				if st, err := os.Stat(filepath.Join(cgroupRoot, path)); err == nil {
					id = st.Sys().(*syscall.Stat_t).Ino
				}
				ids[path] = id
			}
			o.CgroupId = id
		}
		f.Close()
	}
	return o
}
