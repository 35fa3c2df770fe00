package topui

import (
	"context"
	"time"
)

// Row is one process in a frame, with its rates over the frame's interval.
type Row struct {
	PID      uint32
	Comm     string
	User     string  // "" when unknown
	Threads  int     // 0 when unknown
	RSS      uint64  // resident memory in bytes (VmRSS), when HasMem
	Mem      float64 // RSS over the host's memory (MemTotal), when HasMem
	HasMem   bool    // RSS and Mem are known (not for kernel threads)
	CPU      float64 // CPU seconds per second: 1 is one CPU busy
	Syscalls float64 // calls per second
	Read     float64 // bytes per second read from regular files
	Write    float64 // bytes per second written to regular files
	Rx       float64 // bytes per second received on IPv4/IPv6 sockets
	Tx       float64 // bytes per second sent on IPv4/IPv6 sockets
	Exited   bool    // ended during the interval
}

// IO is the file bytes per second, read and written.
func (r *Row) IO() float64 { return r.Read + r.Write }

// Net is the network bytes per second, received and sent.
func (r *Row) Net() float64 { return r.Rx + r.Tx }

// Host is the whole machine over the frame's interval.
type Host struct {
	CPUs     int     // 0 when unknown
	CPU      float64 // CPU seconds per second, every process
	Syscalls float64
	Read     float64
	Write    float64
	Rx       float64
	Tx       float64
	Procs    int       // processes alive now (0: unknown), as kscope_processes counts them
	Running  int       // runnable tasks now (-1: unknown)
	Load     []float64 // 1, 5 and 15 minute load averages, when known
	RunqP99  float64   // 99th percentile run-queue wait in seconds (negative: unknown)
	Lost     uint64    // updates lost in the kernel (full maps), cumulative
	Missing  []string  // data the source lacks, e.g. an agent collector that is off
	Notes    []string  // how the data is collected, e.g. fallbacks taken
}

// Frame is one refresh: every process with its rates, and the host's.
type Frame struct {
	At       time.Time
	Interval time.Duration // what the rates are measured over
	Rows     []Row
	Host     Host
}

// SyscallRate is one syscall of the process in the detail view.
type SyscallRate struct {
	Name  string
	Rate  float64 // calls per second over the last interval
	Total float64 // calls since counting began (focus, or the agent's counter)
}

// Detail is what the detail view shows about one process. Fields the
// source cannot know stay empty (zero, or -1 for OpenFiles).
type Detail struct {
	PID       uint32
	Comm      string
	Cmdline   string
	Exe       string
	User      string
	State     string
	PPID      int
	Threads   int
	OpenFiles int
	Started   time.Time
	Gone      bool // the process is not in /proc (ended, or another host)
	Syscalls  []SyscallRate
	// SyscallsSince says what Total counts from.
	SyscallsSince string
	Events        []string // recent events, one line each, oldest first
	Problems      []string // what could not be read
}

// Source gives the view its data.
type Source interface {
	// Describe names the source for the header: "standalone (BPF)",
	// "agent http://127.0.0.1:9464".
	Describe() string
	// Frame returns the rates since the previous call. It returns nil
	// and no error when it has nothing to measure from yet (the first
	// call of a source that computes rates from counters).
	Frame(ctx context.Context) (*Frame, error)
	// Detail returns the detail view of pid; a source that counts per
	// syscall on demand starts doing so for pid.
	Detail(ctx context.Context, pid uint32) (*Detail, error)
	Close() error
}
