package profile

import "time"

// Source yields stack samples in windows of time, each as a profile: the
// profile collector in the agent. The agent stores each window and hands
// it to the exporters; it knows no more of the source.
type Source interface {
	// Window returns what was sampled since the previous call (since the
	// source started, the first time) and begins the next window.
	Window() (*Profile, error)
	// Every is how long a window should last.
	Every() time.Duration
}
