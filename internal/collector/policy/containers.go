package policy

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"strconv"
	"time"

	"github.com/cilium/ebpf"

	"github.com/kscope/kscope/internal/policy"
)

// The kernel's CTR_* hierarchies of container selectors.
const (
	ctrDfl = 1 + iota
	ctrCpuset
	ctrCPU
	ctrCpuacct
	ctrIO
	ctrMemory
	ctrDevices
	ctrFreezer
	ctrPids
)

// ctrControllers are the cgroup v1 controllers container selectors may
// read, most preferred first: container runtimes create a container's
// cgroup in every v1 hierarchy, and memory is the one nearly every host
// mounts.
var ctrControllers = []struct {
	name string
	hier uint32
}{
	{"memory", ctrMemory}, {"pids", ctrPids}, {"cpu", ctrCPU}, {"cpuacct", ctrCpuacct},
	{"blkio", ctrIO}, {"devices", ctrDevices}, {"freezer", ctrFreezer}, {"cpuset", ctrCpuset},
}

// ContainerHierarchy picks, from /proc/cgroups' content, the hierarchy
// whose cgroup names the kernel reads for container selectors: the first
// of ctrControllers mounted as a cgroup v1 hierarchy (hybrid and v1 hosts,
// where containers have cgroups only there), else the cgroup v2 one. It
// returns the kernel's CTR_* value and the hierarchy's name.
func ContainerHierarchy(procCgroups []byte) (uint32, string) {
	mounted := map[string]bool{}
	for _, line := range bytes.Split(procCgroups, []byte{'\n'}) {
		f := bytes.Fields(line)
		if len(f) < 4 || f[0][0] == '#' {
			continue
		}
		h, err1 := strconv.Atoi(string(f[1]))
		en, err2 := strconv.Atoi(string(f[3]))
		if err1 == nil && err2 == nil && h != 0 && en == 1 {
			mounted[string(f[0])] = true
		}
	}
	for _, c := range ctrControllers {
		if mounted[c.name] {
			return c.hier, "cgroup v1 " + c.name
		}
	}
	return ctrDfl, "cgroup v2"
}

// ctrKeySize is sizeof(struct ctr_key): prefixlen and 64 id bytes.
const ctrKeySize = 4 + 64

func ctrKey(id string) []byte {
	b := make([]byte, ctrKeySize)
	binary.LittleEndian.PutUint32(b, uint32(8*len(id)))
	copy(b[4:], id)
	return b
}

// syncContainers resolves the container selectors' names to the ids of the containers the runtimes know, and brings
// the kernel's trie to the table they make. A runtime that does not answer
// removes nothing: its containers keep their entries until it does.
func (c *Collector) syncContainers(ctx context.Context) {
	list, err := c.containers.Containers(ctx)
	if err != nil {
		c.cfg.Logger.Warn("listing containers for container selectors", "err", err)
	}
	t := c.tables
	resolved := map[string][]string{}
	for _, in := range list {
		if _, ok := t.ContainerNames[in.Name]; ok && in.Name != "" {
			resolved[in.Name] = append(resolved[in.Name], in.ID)
		}
	}
	want := t.ContainerTable(resolved)
	m := c.Collection().Maps["containers"]
	c.ctr.mu.Lock()
	defer c.ctr.mu.Unlock()
	if c.ctr.table == nil {
		c.ctr.table = map[string]policy.Masks{}
	}
	if err == nil {
		for k := range c.ctr.table {
			if _, ok := want[k]; ok {
				continue
			}
			if derr := m.Delete(ctrKey(k)); derr != nil && !errors.Is(derr, ebpf.ErrKeyNotExist) {
				c.cfg.Logger.Warn("removing a container from the kernel's table", "id", k, "err", derr)
				continue
			}
			delete(c.ctr.table, k)
		}
	}
	for k, v := range want {
		if old, ok := c.ctr.table[k]; ok && old == v {
			continue
		}
		if perr := m.Put(ctrKey(k), v); perr != nil {
			// A full table: the container is not matched; counted.
			if n := c.ctr.dropped.Add(1); n == 1 || n%100 == 0 {
				c.cfg.Logger.Warn("adding a container to the kernel's table", "id", k, "dropped", n, "err", perr)
			}
			continue
		}
		c.ctr.table[k] = v
	}
}

// watchContainers keeps the container trie current while the policy
// runs: on each of the Docker Engine's container events and every
// ContainerPoll (for the CRI runtimes, which have no event stream).
func (c *Collector) watchContainers() {
	if c.containers == nil || !hasNames(c.tables) {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.ctr.cancel = cancel
	changed := make(chan struct{}, 1)
	c.ctr.done.Add(2)
	go func() {
		defer c.ctr.done.Done()
		c.containers.WatchContainers(ctx, func() {
			select {
			case changed <- struct{}{}:
			default:
			}
		})
	}()
	go func() {
		defer c.ctr.done.Done()
		tick := time.NewTicker(c.cfg.ContainerPoll)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-changed:
			case <-tick.C:
			}
			sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
			c.syncContainers(sctx)
			scancel()
		}
	}()
}

// hasNames reports whether a container selector has an entry that is not
// a full id (64 digits): a name to resolve.
func hasNames(t *policy.Tables) bool {
	for k := range t.ContainerNames {
		if len(k) != 64 || !policy.IsContainerID(k) {
			return true
		}
	}
	return false
}

// containerEntries returns the ids and id prefixes in the kernel's
// container trie.
func (c *Collector) containerEntries() map[string]policy.Masks {
	c.ctr.mu.Lock()
	defer c.ctr.mu.Unlock()
	out := make(map[string]policy.Masks, len(c.ctr.table))
	for k, v := range c.ctr.table {
		out[k] = v
	}
	return out
}

// ContainersDropped counts the containers the kernel's table had no room
// for.
func (c *Collector) ContainersDropped() uint64 { return c.ctr.dropped.Load() }
