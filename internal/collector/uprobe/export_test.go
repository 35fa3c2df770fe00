package uprobe

// WithoutCookies makes o take the fallback for kernels without BPF attach
// cookies.
func WithoutCookies(o Options) Options {
	o.noCookies = true
	return o
}
