package container

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/kscope/kscope/internal/event"
)

// Field names, a contract: events carry them as JSON fields and
// per-process series as labels, each only when it applies.
const (
	FieldID        = "container_id"
	FieldName      = "container_name"
	FieldImage     = "image"
	FieldPod       = "pod"
	FieldNamespace = "namespace"
	FieldUnit      = "systemd_unit"
)

// Fields are the field and label names in their order.
var Fields = []string{FieldID, FieldName, FieldImage, FieldPod, FieldNamespace, FieldUnit}

// Values returns the values of Fields for i, "" where one does not apply.
func (i *Info) Values() [6]string {
	if i == nil {
		return [6]string{}
	}
	return [6]string{i.ID, i.Name, i.Image, i.Pod, i.Namespace, i.Unit}
}

// AppendJSON appends i's fields that apply, each as `,"name":value`.
func (i *Info) AppendJSON(b []byte) []byte {
	for n, v := range i.Values() {
		if v == "" {
			continue
		}
		b = append(b, ',', '"')
		b = append(b, Fields[n]...)
		b = append(b, '"', ':')
		b = event.AppendString(b, v)
	}
	return b
}

// Filter selects processes by container, pod and unit. Its zero value
// selects every process.
type Filter struct {
	// Container matches a container's name or its id (a prefix of at
	// least 12 hex digits, as docker ps shows it).
	Container string
	Pod       string // a pod's name, or namespace/name
	Unit      string // a systemd unit's name; without a suffix, .service
}

// IsZero reports whether f selects every process.
func (f Filter) IsZero() bool { return f == Filter{} }

// Match reports whether a process with info i passes f.
func (f Filter) Match(i *Info) bool {
	if f.IsZero() {
		return true
	}
	if i == nil {
		return false
	}
	if f.Container != "" && f.Container != i.Name &&
		!(len(f.Container) >= 12 && isHex(f.Container) && strings.HasPrefix(i.ID, f.Container)) {
		return false
	}
	if f.Pod != "" && f.Pod != i.Pod && f.Pod != i.Namespace+"/"+i.Pod {
		return false
	}
	if f.Unit != "" && f.Unit != i.Unit && f.Unit+".service" != i.Unit {
		return false
	}
	return true
}

// Conditions returns f as the event store's field conditions (the agent
// API's match parameters): the same selection, made on stored events.
func (f Filter) Conditions() []string {
	var out []string
	if c := f.Container; c != "" {
		if len(c) >= 12 && len(c) <= 64 && isHex(c) {
			out = append(out, FieldID+"=~"+c+"[0-9a-f]*")
		} else {
			out = append(out, FieldName+"="+c)
		}
	}
	if p := f.Pod; p != "" {
		if ns, name, ok := strings.Cut(p, "/"); ok {
			out = append(out, FieldNamespace+"="+ns, FieldPod+"="+name)
		} else {
			out = append(out, FieldPod+"="+p)
		}
	}
	if u := f.Unit; u != "" {
		out = append(out, FieldUnit+"=~"+regexp.QuoteMeta(u)+"(?:\\.service)?")
	}
	return out
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// PromQL returns f as label matchers of per-process series, joined by
// commas (e.g. `container_name="web"`): the same selection, made on
// series. "" for the zero Filter.
func (f Filter) PromQL() string {
	var out []string
	for _, c := range f.Conditions() {
		name, op, value := "", "=", ""
		if n, v, ok := strings.Cut(c, "=~"); ok {
			name, op, value = n, "=~", v
		} else {
			name, value, _ = strings.Cut(c, "=")
		}
		out = append(out, name+op+strconv.Quote(value))
	}
	return strings.Join(out, ",")
}
