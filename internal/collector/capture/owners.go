package capture

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// maxSeeded bounds the sockets noted at start.
const maxSeeded = 65536

// seedOwners gives the IPv4 and IPv6 sockets that existed before the
// capture started (a server's listener above all: the connections it
// accepts take its owner) their process in the owners socket storage, as
// the hooks would have when they were made. It walks procRoot's processes'
// descriptors and takes a copy of each socket (pidfd_getfd, Linux 5.6+),
// which is the key a socket storage map takes from user space. The first
// process found holding a socket owns it; processes that exit meanwhile or
// whose descriptors cannot be copied are skipped.
func seedOwners(owners *ebpf.Map, procRoot string, log *slog.Logger) {
	ents, err := os.ReadDir(procRoot)
	if err != nil {
		log.Warn("noting the owners of existing sockets", "err", err)
		return
	}
	added := 0
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || added >= maxSeeded {
			continue
		}
		fdDir := filepath.Join(procRoot, e.Name(), "fd")
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			continue
		}
		var o *captureOwner
		pidfd := -1
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
			if err != nil || !strings.HasPrefix(link, "socket:[") || added >= maxSeeded {
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
			if o == nil {
				comm, err := os.ReadFile(filepath.Join(procRoot, e.Name(), "comm"))
				if err != nil {
					break
				}
				o = &captureOwner{Pid: uint32(pid), Tid: uint32(pid)}
				copy(o.Comm[:len(o.Comm)-1], bytes.TrimSuffix(comm, []byte("\n")))
			}
			if noteSocket(owners, pidfd, n, o) {
				added++
			}
		}
		if pidfd >= 0 {
			unix.Close(pidfd)
		}
	}
	log.Debug("noted the owners of existing sockets", "sockets", added)
}

// noteSocket copies fd of the process behind pidfd and, when it is an
// IPv4 or IPv6 socket that has no owner yet, gives it o.
func noteSocket(owners *ebpf.Map, pidfd, fd int, o *captureOwner) bool {
	c, err := unix.PidfdGetfd(pidfd, fd, 0)
	if err != nil {
		return false
	}
	defer unix.Close(c)
	dom, err := unix.GetsockoptInt(c, unix.SOL_SOCKET, unix.SO_DOMAIN)
	if err != nil || dom != unix.AF_INET && dom != unix.AF_INET6 {
		return false
	}
	err = owners.Update(int32(c), o, ebpf.UpdateNoExist)
	return err == nil
}
