package topui

import "github.com/charmbracelet/bubbles/key"

// keyMap is every key of the live view.
type keyMap struct {
	SortCPU, SortSyscalls, SortIO, SortNet, SortMem key.Binding
	SortNext, SortPrev, Reverse                     key.Binding
	Filter, Clear                                   key.Binding
	Up, Down, PageUp, PageDown, Home, End           key.Binding
	Details, Back, Pause, Quit                      key.Binding
	// While typing a filter.
	FilterKeep, FilterClear key.Binding
}

var keys = keyMap{
	SortCPU:      key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "cpu")),
	SortSyscalls: key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "syscalls")),
	SortIO:       key.NewBinding(key.WithKeys("i"), key.WithHelp("i", "io")),
	SortNet:      key.NewBinding(key.WithKeys("n"), key.WithHelp("n", "net")),
	SortMem:      key.NewBinding(key.WithKeys("m"), key.WithHelp("m", "mem")),
	SortNext:     key.NewBinding(key.WithKeys(">", ".", "tab"), key.WithHelp("</>", "sort")),
	SortPrev:     key.NewBinding(key.WithKeys("<", ",", "shift+tab")),
	Reverse:      key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "reverse")),
	Filter:       key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter")),
	Clear:        key.NewBinding(key.WithKeys("esc")),
	Up:           key.NewBinding(key.WithKeys("up", "k")),
	Down:         key.NewBinding(key.WithKeys("down", "j")),
	PageUp:       key.NewBinding(key.WithKeys("pgup")),
	PageDown:     key.NewBinding(key.WithKeys("pgdown", " ")),
	Home:         key.NewBinding(key.WithKeys("home", "g")),
	End:          key.NewBinding(key.WithKeys("end", "G")),
	Details:      key.NewBinding(key.WithKeys("enter", "right", "l"), key.WithHelp("enter", "details")),
	Back:         key.NewBinding(key.WithKeys("esc", "backspace", "left", "h"), key.WithHelp("esc", "back")),
	Pause:        key.NewBinding(key.WithKeys("p"), key.WithHelp("p", "pause")),
	Quit:         key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
	FilterKeep:   key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "keep")),
	FilterClear:  key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "clear")),
}

// tableHelp, filterHelp and detailHelp are the footers' key lists.
var (
	tableHelp  = []key.Binding{keys.SortCPU, keys.SortSyscalls, keys.SortIO, keys.SortNet, keys.SortMem, keys.SortNext, keys.Reverse, keys.Filter, keys.Details, keys.Pause, keys.Quit}
	filterHelp = []key.Binding{keys.FilterKeep, keys.FilterClear}
	detailHelp = []key.Binding{keys.Back, keys.Pause, keys.Quit}
)
