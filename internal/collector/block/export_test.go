package block

// Test knobs and helpers for the external tests.
var InflightEntries = &inflightEntries

// WholeDisk returns the disk holding major:minor, as the kernel numbers it.
func WholeDisk(major, minor uint32) (uint32, error) { return wholeDisk("/sys", major, minor) }

// DevName resolves a kernel device number as Collect does.
func DevName(dev uint32) string { return newDevNames("/sys", "/proc").name(dev) }

// UsesBTF reports whether the tp_btf programs are loaded.
func (c *Collector) UsesBTF() bool { return c.btf }

// FillInflight takes every free entry of the pending-request map with
// requests that never complete.
func (c *Collector) FillInflight() error {
	m := c.Collection().Maps[blockMapInflight]
	for k := uint64(1); k <= uint64(m.MaxEntries()); k++ {
		if err := m.Update(k, blockPending{IssueNs: ^uint64(0) >> 1}, 0); err != nil {
			return err
		}
	}
	return nil
}
