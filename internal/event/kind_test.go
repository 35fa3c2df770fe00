package event_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/event"
)

func TestBuiltinKinds(t *testing.T) {
	want := []string{"exec", "exit", "open", "connect", "oom", "signal", "uprobe", "usdt", "http"}
	if !reflect.DeepEqual(event.Kinds, want) {
		t.Errorf("Kinds = %v, want %v", event.Kinds, want)
	}
	list := event.KindList()
	for i, name := range want {
		if list[i].Name != name || event.LookupKind(name) != list[i] {
			t.Errorf("kind %d: %s, lookup %v", i, list[i].Name, event.LookupKind(name))
		}
	}
	if event.LookupKind("nope") != nil {
		t.Error("LookupKind(nope) found a kind")
	}
}

// TestKindFieldsMatchJSON: a built-in kind's fields are its type's json
// tags in order, with their types; every sample's JSON has exactly the
// header's fields then the kind's (those with Omit only when set).
func TestKindFieldsMatchJSON(t *testing.T) {
	types := map[string]reflect.Type{}
	for _, ev := range samples {
		types[ev.Hdr().Type] = reflect.TypeOf(ev).Elem()
	}
	for _, k := range event.KindList() {
		typ, ok := types[k.Name]
		if !ok {
			continue
		}
		var tags []string
		for i := 1; i < typ.NumField(); i++ { // 0 is Header
			tag, opts, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			tags = append(tags, tag)
			f := k.Fields[len(tags)-1]
			if f.Omit != (opts == "omitempty") {
				t.Errorf("%s.%s: Omit %v, tag %q", k.Name, f.Name, f.Omit, opts)
			}
			var jt string
			switch ft := typ.Field(i).Type; {
			case ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.String, ft.Kind() == reflect.String:
				jt = "string"
			case ft.Kind() == reflect.Bool:
				jt = "boolean"
			case ft.Kind() == reflect.Slice:
				jt = "array"
			default:
				jt = "integer"
			}
			if f.Type.JSONType() != jt {
				t.Errorf("%s.%s: %s, want %s", k.Name, f.Name, f.Type.JSONType(), jt)
			}
		}
		var names []string
		for _, f := range k.Fields {
			names = append(names, f.Name)
			if f.Doc == "" {
				t.Errorf("%s.%s has no doc", k.Name, f.Name)
			}
		}
		if !reflect.DeepEqual(names, tags) {
			t.Errorf("%s fields %v, json tags %v", k.Name, names, tags)
		}
		if k.Doc == "" || len(k.Summary) == 0 {
			t.Errorf("%s: no doc or summary", k.Name)
		}
	}
	if len(types) != len(event.Kinds) {
		t.Errorf("samples cover %d of %d kinds", len(types), len(event.Kinds))
	}
	for _, ev := range samples {
		keys := jsonKeys(t, event.AppendJSON(nil, ev))
		var want []string
		for _, f := range event.HeaderFields {
			want = append(want, f.Name)
		}
		m := map[string]any{}
		json.Unmarshal(event.AppendJSON(nil, ev), &m)
		for _, f := range ev.Kind().Fields {
			if _, ok := m[f.Name]; ok || !f.Omit {
				want = append(want, f.Name)
			}
		}
		if !reflect.DeepEqual(keys, want) {
			t.Errorf("%s keys %v, want %v", ev.Hdr().Type, keys, want)
		}
		if cells := ev.AppendCells(nil); len(cells) != len(ev.Kind().Columns) {
			t.Errorf("%s: %d cells for %d columns", ev.Hdr().Type, len(cells), len(ev.Kind().Columns))
		}
	}
}

// jsonKeys returns the keys of a JSON object in order.
func jsonKeys(t *testing.T, b []byte) []string {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(string(b)))
	if _, err := d.Token(); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for d.More() {
		k, err := d.Token()
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		keys = append(keys, k.(string))
		var v json.RawMessage
		if err := d.Decode(&v); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func TestRegister(t *testing.T) {
	f := []event.Field{{Name: "n", Type: event.TypeUint, Doc: "a number"}}
	for _, tt := range []struct {
		name   string
		fields []event.Field
		want   string
	}{
		{"Bad-Name", f, `event kind "Bad-Name": a name is lower-case`},
		{"", f, `event kind "": a name is lower-case`},
		{"k1", []event.Field{{Name: "pid", Type: event.TypeUint}}, `event kind k1: field "pid" appears twice or is a header field`},
		{"k2", []event.Field{{Name: "a"}, {Name: "a"}}, `event kind k2: field "a" appears twice`},
		{"k3", []event.Field{{Name: "a b"}}, `event kind k3: field "a b": a name`},
		{"k4", []event.Field{{Name: "a", Type: 99}}, `event kind k4: field a: unknown type 99`},
	} {
		_, err := event.NewKind(tt.name, "doc", tt.fields)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewKind(%q): %v, want %q", tt.name, err, tt.want)
		}
	}
	if err := event.Register(event.ExecKind); err == nil || err.Error() != "registering an event kind: exec is registered already" {
		t.Errorf("registering exec twice: %v", err)
	}
	k, err := event.NewKind("kindtest_reg", "a kind built at run time", f)
	if err != nil {
		t.Fatal(err)
	}
	if err := event.Register(k); err != nil {
		t.Fatal(err)
	}
	if event.LookupKind("kindtest_reg") != k || event.KindNames()[len(event.KindNames())-1] != "kindtest_reg" {
		t.Errorf("registered kind not found: %v", event.KindNames())
	}
	if len(event.Kinds) != 9 {
		t.Errorf("Kinds grew: %v", event.Kinds)
	}
	bad := &event.Kind{Name: "kindtest_cols", Columns: []event.Column{{Header: "X"}, {Header: "Y"}, {Header: "Z"}}}
	if err := event.Register(bad); err == nil || !strings.Contains(err.Error(), "column 1 is X, want TIME") {
		t.Errorf("bad columns: %v", err)
	}
}

// scriptKind is a kind as a script would define it, every field type
// included.
func scriptKind(t testing.TB, name string) *event.Kind {
	k, err := event.NewKind(name, "a script's probe", []event.Field{
		{Name: "fn", Type: event.TypeString, Doc: "function"},
		{Name: "delta", Type: event.TypeInt, Doc: "signed"},
		{Name: "bytes", Type: event.TypeUint, Doc: "unsigned"},
		{Name: "ok", Type: event.TypeBool, Doc: "flag"},
		{Name: "at", Type: event.TypeTime, Doc: "a time"},
		{Name: "words", Type: event.TypeStrings, Doc: "strings"},
		{Name: "regs", Type: event.TypeInts, Doc: "integers"},
		{Name: "note", Type: event.TypeString, Doc: "optional", Omit: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestDynamic(t *testing.T) {
	k := scriptKind(t, "script_probe")
	ev := event.NewDynamic(k)
	ev.Header = hdr("script_probe")
	for name, v := range map[string]event.Value{
		"fn": event.StringValue("do\"it"), "delta": event.IntValue(-5), "bytes": event.UintValue(1 << 63),
		"ok": event.BoolValue(true), "at": event.TimeValue(when), "words": event.StringsValue([]string{"a", "b c"}),
		"regs": event.IntsValue([]event.Int{{V: 1<<64 - 1, Signed: true}, {V: 7}}),
	} {
		if !ev.Set(name, v) {
			t.Fatalf("Set(%s) failed", name)
		}
	}
	if ev.Set("nope", event.UintValue(1)) {
		t.Error("Set(nope) succeeded")
	}
	got := string(event.AppendJSON(nil, ev))
	want := `{"time":"2026-11-24T10:11:12.123456789Z","type":"script_probe","pid":10,"tid":11,"ppid":1,"uid":1000,"comm":"ba\"sh\n","cgroup_id":77,"start_ns":123456789012,"start_time":"2026-11-24T09:11:12.123456789Z","parent_start_ns":3456789,` +
		`"fn":"do\"it","delta":-5,"bytes":9223372036854775808,"ok":true,"at":"2026-11-24T10:11:12.123456789Z","words":["a","b c"],"regs":[-1,7]}`
	if got != want {
		t.Errorf("JSON\n got %s\nwant %s", got, want)
	}
	ev.Set("note", event.StringValue("n"))
	if got := string(event.AppendJSON(nil, ev)); !strings.HasSuffix(got, `"regs":[-1,7],"note":"n"}`) {
		t.Errorf("JSON with the optional field: %s", got)
	}
	cells := ev.AppendCells(nil)
	wantCells := []string{"10:11:12.123456", "ba\"sh\n", "10", "do\"it", "-5", "9223372036854775808", "true", "2026-11-24T10:11:12.123456789Z", "a b c", "-1 7", "n"}
	if !reflect.DeepEqual(cells, wantCells) {
		t.Errorf("cells %q, want %q", cells, wantCells)
	}
	c := ev.Clone().(*event.Dynamic)
	c.Values[5].Strs[0] = "changed"
	if ev.Values[5].Strs[0] != "a" || c.Kind() != k {
		t.Error("Clone shares values")
	}
}

// FuzzDynamicJSON: whatever the values, a run-time kind's event encodes to
// JSON that encoding/json reads back to the same values.
func FuzzDynamicJSON(f *testing.F) {
	k := scriptKind(f, "fuzz_probe")
	f.Add("comm", "fn", int64(-1), uint64(1), true, int64(0), "w", uint64(3), "")
	f.Add("\xff\x00", "\u2028\"", int64(1<<62), uint64(1<<64-1), false, int64(1e18), "\\", uint64(1<<63), "x")
	f.Fuzz(func(t *testing.T, comm, fn string, delta int64, bytes uint64, ok bool, at int64, word string, reg uint64, note string) {
		ev := event.NewDynamic(k)
		ev.Comm = comm
		ev.Time = time.Unix(0, at).UTC()
		ev.Set("fn", event.StringValue(fn))
		ev.Set("delta", event.IntValue(delta))
		ev.Set("bytes", event.UintValue(bytes))
		ev.Set("ok", event.BoolValue(ok))
		ev.Set("at", event.TimeValue(time.Unix(0, at).UTC()))
		ev.Set("words", event.StringsValue([]string{word, fn}))
		ev.Set("regs", event.IntsValue([]event.Int{{V: reg}, {V: reg, Signed: true}}))
		ev.Set("note", event.StringValue(note))
		b := event.AppendJSON(nil, ev)
		var back struct {
			Time  time.Time `json:"time"`
			Type  string    `json:"type"`
			Comm  string    `json:"comm"`
			Fn    string    `json:"fn"`
			Delta int64     `json:"delta"`
			Bytes uint64    `json:"bytes"`
			OK    bool      `json:"ok"`
			At    time.Time `json:"at"`
			Words []string  `json:"words"`
			Note  *string   `json:"note"`
		}
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("invalid JSON %s: %v", b, err)
		}
		str := func(s string) string { r, _ := json.Marshal(s); var o string; json.Unmarshal(r, &o); return o }
		if back.Type != "fuzz_probe" || back.Comm != str(comm) || back.Fn != str(fn) || back.Delta != delta || back.Bytes != bytes || back.OK != ok ||
			!back.At.Equal(time.Unix(0, at)) || !back.Time.Equal(time.Unix(0, at)) || !reflect.DeepEqual(back.Words, []string{str(word), str(fn)}) {
			t.Fatalf("round trip of %s: %+v", b, back)
		}
		if (note == "") != (back.Note == nil) || back.Note != nil && *back.Note != str(note) {
			t.Fatalf("note %q: %s", note, b)
		}
	})
}
