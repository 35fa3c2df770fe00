package run

import (
	"bufio"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/cilium/ebpf/btf"

	"github.com/kscope/kscope/internal/bpfx"
)

// KernelFunction is a kernel function a kprobe or fentry probe can
// attach to, with its arguments as C declarations ("struct file * file")
// when BTF has its prototype.
type KernelFunction struct {
	Name string
	Args []string
	Ret  string // the return type; "" without a prototype
}

// ListKernelFunctions returns the kernel functions matching a glob,
// sorted: for kprobes (fromTracefs) those tracefs's
// available_filter_functions lists, for fentry those of the kernel's BTF;
// with args, each one's arguments from BTF. warn says why the list came
// from BTF when tracefs's could not be read.
func ListKernelFunctions(glob string, fromTracefs, args bool) (fns []KernelFunction, warn string, err error) {
	names := map[string]bool{}
	if fromTracefs {
		if err := filterFunctions(glob, names); err != nil {
			warn = fmt.Sprintf("%v; listing the functions of the kernel's BTF instead", err)
			fromTracefs = false
		}
	}
	var spec *btf.Spec
	if !fromTracefs || args {
		spec, err = bpfx.KernelTypes()
		if err != nil && !fromTracefs {
			return nil, warn, fmt.Errorf("reading the kernel's BTF: %w", err)
		}
	}
	protos := map[string]*btf.FuncProto{}
	if spec != nil {
		for t, err := range spec.All() {
			if err != nil {
				break
			}
			fn, ok := t.(*btf.Func)
			if !ok {
				continue
			}
			if ok, _ := path.Match(glob, fn.Name); !ok {
				continue
			}
			if !fromTracefs {
				names[fn.Name] = true
			}
			if p, ok := fn.Type.(*btf.FuncProto); ok {
				protos[fn.Name] = p
			}
		}
	}
	for n := range names {
		kf := KernelFunction{Name: n}
		if p := protos[n]; p != nil && args {
			for _, a := range p.Params {
				kf.Args = append(kf.Args, CDecl(a.Type, a.Name))
			}
			kf.Ret = CDecl(p.Return, "")
		}
		fns = append(fns, kf)
	}
	sort.Slice(fns, func(i, j int) bool { return fns[i].Name < fns[j].Name })
	return fns, warn, nil
}

// filterFunctions adds the functions of available_filter_functions
// matching glob to names.
func filterFunctions(glob string, names map[string]bool) error {
	var f *os.File
	var first error
	for _, root := range []string{TracefsRoot, "/sys/kernel/debug/tracing"} {
		var err error
		if f, err = os.Open(filepath.Join(root, "available_filter_functions")); err == nil {
			break
		}
		if first == nil {
			first = err
		}
	}
	if f == nil {
		return fmt.Errorf("reading the kernel's traceable functions: %w", first)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "name" or "name [module]"
		n, _, _ := strings.Cut(sc.Text(), " ")
		if ok, _ := path.Match(glob, n); ok {
			names[n] = true
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading the kernel's traceable functions: %w", err)
	}
	return nil
}

// CDecl writes a C declaration of name with type t, as bpftrace -lv
// prints arguments: "struct file * file", "size_t count".
func CDecl(t btf.Type, name string) string {
	s := cType(t)
	if name == "" {
		return s
	}
	return s + " " + name
}

func cType(t btf.Type) string {
	switch t := t.(type) {
	case nil, *btf.Void:
		return "void"
	case *btf.Pointer:
		if _, ok := btf.UnderlyingType(t.Target).(*btf.FuncProto); ok {
			return "void *" // a function pointer
		}
		return cType(t.Target) + " *"
	case *btf.Const:
		return "const " + cType(t.Type)
	case *btf.Volatile:
		return "volatile " + cType(t.Type)
	case *btf.Restrict:
		return cType(t.Type)
	case *btf.Struct:
		return "struct " + t.Name
	case *btf.Union:
		return "union " + t.Name
	case *btf.Enum:
		return "enum " + t.Name
	case *btf.Array:
		return cType(t.Type) + "[" + strconv.Itoa(int(t.Nelems)) + "]"
	case *btf.FuncProto:
		return "void"
	}
	return t.TypeName()
}
