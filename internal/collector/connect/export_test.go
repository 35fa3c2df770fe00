package connect

// VariantTracepoints names the fallback to the syscall dispatcher, for
// bpfx.ForceHook.
const VariantTracepoints = variantTracepoints

// Variant returns the variant Start chose.
func (c *Collector) Variant() string { return c.variant }
