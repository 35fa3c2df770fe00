package otlp

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/pprofile"

	"github.com/kscope/kscope/internal/container"
	"github.com/kscope/kscope/internal/export"
	"github.com/kscope/kscope/internal/metrics"
	"github.com/kscope/kscope/internal/profile"
	"github.com/kscope/kscope/internal/version"
)

// scopeName is the instrumentation scope of everything kscope sends.
const scopeName = "github.com/kscope/kscope"

// containerAttrs maps kscope's container fields and labels to the
// resource attributes of OpenTelemetry's semantic conventions.
// systemd_unit has none: it stays an attribute of the record.
var containerAttrs = map[string]string{
	container.FieldID:        "container.id",
	container.FieldName:      "container.name",
	container.FieldImage:     "container.image.name",
	container.FieldPod:       "k8s.pod.name",
	container.FieldNamespace: "k8s.namespace.name",
}

// resourceKeys are containerAttrs' keys in a fixed order.
var resourceKeys = []string{container.FieldID, container.FieldName, container.FieldImage, container.FieldPod, container.FieldNamespace}

// resourceID is the container part of a resource: the values of
// resourceKeys, "" where one does not apply.
type resourceID [5]string

// fillResource sets r's attributes: the host's, then the container's.
func (x *Exporter) fillResource(r pcommon.Resource, id resourceID) {
	a := r.Attributes()
	a.EnsureCapacity(3 + len(id))
	a.PutStr("host.name", x.hostname)
	a.PutStr("service.name", "kscope")
	a.PutStr("service.version", version.Version)
	for i, v := range id {
		if v != "" {
			a.PutStr(containerAttrs[resourceKeys[i]], v)
		}
	}
}

// maxPoints bounds the data points of one metrics request, well within a
// receiver's default message size (4 MiB over gRPC).
const maxPoints = 2000

// metricBatch builds one metrics request.
type metricBatch struct {
	md     pmetric.Metrics
	res    map[resourceID]*metricResource
	points int
}

type metricResource struct {
	sm      pmetric.ScopeMetrics
	metrics map[*metrics.Desc]pmetric.Metric
}

// encodeMetrics encodes one collection at t into requests of at most
// maxPoints data points.
func (x *Exporter) encodeMetrics(t time.Time, samples []metrics.Sample) []request {
	var out []request
	var b *metricBatch
	flush := func() {
		if b != nil && b.points > 0 {
			data, err := pmetricotlp.NewExportRequestFromMetrics(b.md).MarshalProto()
			if err != nil {
				x.logger.Warn("encoding OTLP metrics", "err", err)
			} else {
				out = append(out, request{sig: sigMetrics, data: data, n: b.points})
			}
		}
		b = nil
	}
	ts := pcommon.NewTimestampFromTime(t)
	start := pcommon.NewTimestampFromTime(x.start)
	for i := range samples {
		s := &samples[i]
		if b == nil {
			b = &metricBatch{md: pmetric.NewMetrics(), res: map[resourceID]*metricResource{}}
		}
		var id resourceID
		perContainer := slices.Contains(s.Desc.Labels, container.FieldID)
		if perContainer {
			for j, l := range s.Desc.Labels {
				if k := slices.Index(resourceKeys, l); k >= 0 {
					id[k] = s.Values[j]
				}
			}
		}
		r := b.res[id]
		if r == nil {
			rm := b.md.ResourceMetrics().AppendEmpty()
			x.fillResource(rm.Resource(), id)
			r = &metricResource{sm: rm.ScopeMetrics().AppendEmpty(), metrics: map[*metrics.Desc]pmetric.Metric{}}
			r.sm.Scope().SetName(scopeName)
			r.sm.Scope().SetVersion(version.Version)
			b.res[id] = r
		}
		m, ok := r.metrics[s.Desc]
		if !ok {
			m = r.sm.Metrics().AppendEmpty()
			m.SetName(s.Desc.Name)
			m.SetDescription(s.Desc.Help)
			switch s.Desc.Type {
			case metrics.Counter:
				sum := m.SetEmptySum()
				sum.SetIsMonotonic(true)
				sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			case metrics.Histogram:
				m.SetEmptyHistogram().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			default:
				m.SetEmptyGauge()
			}
			r.metrics[s.Desc] = m
		}
		var attrs pcommon.Map
		switch s.Desc.Type {
		case metrics.Counter:
			dp := m.Sum().DataPoints().AppendEmpty()
			dp.SetStartTimestamp(start)
			dp.SetTimestamp(ts)
			dp.SetDoubleValue(s.Value)
			attrs = dp.Attributes()
		case metrics.Histogram:
			dp := m.Histogram().DataPoints().AppendEmpty()
			dp.SetStartTimestamp(start)
			dp.SetTimestamp(ts)
			if h := s.Hist; h != nil {
				dp.ExplicitBounds().FromRaw(h.Bounds)
				dp.BucketCounts().FromRaw(h.Counts)
				dp.SetSum(h.Sum)
				dp.SetCount(h.Count())
			}
			attrs = dp.Attributes()
		default:
			dp := m.Gauge().DataPoints().AppendEmpty()
			dp.SetTimestamp(ts)
			dp.SetDoubleValue(s.Value)
			attrs = dp.Attributes()
		}
		for j, l := range s.Desc.Labels {
			if v := s.Values[j]; v != "" && !(perContainer && slices.Contains(resourceKeys, l)) {
				attrs.PutStr(l, v)
			}
		}
		if b.points++; b.points >= maxPoints {
			flush()
		}
	}
	flush()
	return out
}

// encodeLogs encodes events as one logs request: a record per event, its
// time as the record's, its kind (type) as the event name, its fields as
// attributes (the container's as the resource's) and its JSON as the
// body.
func (x *Exporter) encodeLogs(events []export.Event) (request, bool) {
	ld := plog.NewLogs()
	res := map[resourceID]plog.LogRecordSlice{}
	observed := pcommon.NewTimestampFromTime(time.Now())
	n := 0
	for _, e := range events {
		fields, err := decodeFields(e.JSON)
		if err != nil {
			x.logger.Debug("an event's JSON is not an object", "type", e.Header.Type, "err", err)
			continue
		}
		var id resourceID
		for k, key := range resourceKeys {
			if v, ok := fields.get(key).(string); ok {
				id[k] = v
			}
		}
		records, ok := res[id]
		if !ok {
			rl := ld.ResourceLogs().AppendEmpty()
			x.fillResource(rl.Resource(), id)
			sl := rl.ScopeLogs().AppendEmpty()
			sl.Scope().SetName(scopeName)
			sl.Scope().SetVersion(version.Version)
			records = sl.LogRecords()
			res[id] = records
		}
		lr := records.AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(e.Header.Time))
		lr.SetObservedTimestamp(observed)
		lr.SetEventName(e.Header.Type)
		lr.Body().SetStr(string(e.JSON))
		attrs := lr.Attributes()
		attrs.EnsureCapacity(len(fields))
		for _, f := range fields {
			if f.key == "time" {
				continue // the record's timestamp
			}
			if _, ok := containerAttrs[f.key]; ok {
				continue // the resource's
			}
			putValue(attrs.PutEmpty(f.key), f.value)
		}
		n++
	}
	if n == 0 {
		return request{}, false
	}
	data, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	if err != nil {
		x.logger.Warn("encoding OTLP logs", "err", err)
		return request{}, false
	}
	return request{sig: sigLogs, data: data, n: n}, true
}

// field is one of an event's JSON fields, in the order of the JSON.
type field struct {
	key   string
	value any
}

type fieldList []field

func (l fieldList) get(key string) any {
	for i := len(l) - 1; i >= 0; i-- { // the last of a repeated key wins, as in JSON decoders
		if l[i].key == key {
			return l[i].value
		}
	}
	return nil
}

// decodeFields decodes a JSON object's fields in their order, numbers as
// json.Number; a repeated key keeps its last value.
func decodeFields(data []byte) (fieldList, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	tok, err := d.Token()
	if err != nil {
		return nil, err
	}
	if tok != json.Delim('{') {
		return nil, errNotObject
	}
	var out fieldList
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		var v any
		if err := d.Decode(&v); err != nil {
			return nil, err
		}
		if i := slices.IndexFunc(out, func(f field) bool { return f.key == key }); i >= 0 {
			out[i].value = v
			continue
		}
		out = append(out, field{key, v})
	}
	if tok, err := d.Token(); err != nil || tok != json.Delim('}') {
		return nil, errNotObject
	}
	return out, nil
}

type jsonError string

func (e jsonError) Error() string { return string(e) }

const errNotObject = jsonError("not a JSON object")

// putValue sets dst to a decoded JSON value: integers as ints (past
// int64 as their decimal text), other numbers as doubles, objects as maps
// (keys sorted) and arrays as slices.
func putValue(dst pcommon.Value, v any) {
	switch v := v.(type) {
	case string:
		dst.SetStr(v)
	case bool:
		dst.SetBool(v)
	case json.Number:
		if i, err := v.Int64(); err == nil {
			dst.SetInt(i)
		} else if strings.ContainsAny(string(v), ".eE") {
			f, _ := v.Float64()
			dst.SetDouble(f)
		} else {
			dst.SetStr(string(v))
		}
	case map[string]any:
		m := dst.SetEmptyMap()
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			putValue(m.PutEmpty(k), v[k])
		}
	case []any:
		s := dst.SetEmptySlice()
		s.EnsureCapacity(len(v))
		for _, e := range v {
			putValue(s.AppendEmpty(), e)
		}
	}
	// nil: the empty value
}

// encodeProfile encodes a profile window as one profiles request: a
// profile per sample type (samples, cpu, off_cpu), sharing one
// dictionary; each sample's stack leaf first, with the process's pid and
// name as attributes.
func (x *Exporter) encodeProfile(p *profile.Profile) (request, bool) {
	if len(p.Samples) == 0 || len(p.Types) == 0 {
		return request{}, false
	}
	pd := pprofile.NewProfiles()
	d := newDict(pd.Dictionary())
	rp := pd.ResourceProfiles().AppendEmpty()
	x.fillResource(rp.Resource(), resourceID{})
	sp := rp.ScopeProfiles().AppendEmpty()
	sp.Scope().SetName(scopeName)
	sp.Scope().SetVersion(version.Version)

	// The stacks and attributes of the samples, shared by the profiles.
	stacks := make([]int32, len(p.Samples))
	attrs := make([][2]int32, len(p.Samples))
	for i, s := range p.Samples {
		stacks[i] = d.stack(s.Stack)
		attrs[i] = [2]int32{d.attrInt("process.pid", int64(s.PID)), d.attrStr("process.executable.name", s.Comm)}
	}
	n := 0
	for t, vt := range p.Types {
		pr := sp.Profiles().AppendEmpty()
		pr.SampleType().SetTypeStrindex(d.str(vt.Type))
		pr.SampleType().SetUnitStrindex(d.str(vt.Unit))
		pr.SetTime(pcommon.NewTimestampFromTime(p.Start))
		pr.SetDurationNano(uint64(max(p.Duration, 0)))
		if p.Period > 0 && vt != profile.OffCPU {
			pr.PeriodType().SetTypeStrindex(d.str("cpu"))
			pr.PeriodType().SetUnitStrindex(d.str("nanoseconds"))
			pr.SetPeriod(p.Period)
		}
		samples := pr.Samples()
		samples.EnsureCapacity(len(p.Samples))
		for i, s := range p.Samples {
			if t >= len(s.Values) || s.Values[t] == 0 {
				continue
			}
			ps := samples.AppendEmpty()
			ps.SetStackIndex(stacks[i])
			ps.Values().Append(s.Values[t])
			ps.AttributeIndices().Append(attrs[i][0], attrs[i][1])
			n++
		}
	}
	if n == 0 {
		return request{}, false
	}
	data, err := (&pprofile.ProtoMarshaler{}).MarshalProfiles(pd)
	if err != nil {
		x.logger.Warn("encoding OTLP profiles", "err", err)
		return request{}, false
	}
	return request{sig: sigProfiles, data: data, n: n}, true
}

// dict fills a profiles dictionary, each entry once; every table starts
// with its zero value, as OTLP requires.
type dict struct {
	d         pprofile.ProfilesDictionary
	strs      map[string]int32
	funcs     map[[2]int32]int32 // name, file
	mappings  map[int32]int32    // file name
	locations map[locKey]int32
	stacks    map[string]int32
	attrs     map[attrKey]int32
	key       []byte
}

type locKey struct {
	mapping, fn int32
	addr        uint64
	line        int64
}

type attrKey struct {
	key int32
	str string
	i   int64
}

func newDict(d pprofile.ProfilesDictionary) *dict {
	x := &dict{d: d, strs: map[string]int32{}, funcs: map[[2]int32]int32{}, mappings: map[int32]int32{},
		locations: map[locKey]int32{}, stacks: map[string]int32{}, attrs: map[attrKey]int32{}}
	x.str("")
	d.FunctionTable().AppendEmpty()
	d.MappingTable().AppendEmpty()
	d.LocationTable().AppendEmpty()
	d.StackTable().AppendEmpty()
	d.AttributeTable().AppendEmpty()
	d.LinkTable().AppendEmpty()
	return x
}

func (x *dict) str(s string) int32 {
	if i, ok := x.strs[s]; ok {
		return i
	}
	i := int32(x.d.StringTable().Len())
	x.d.StringTable().Append(s)
	x.strs[s] = i
	return i
}

func (x *dict) attrStr(key, v string) int32 {
	k := attrKey{key: x.str(key), str: v}
	if i, ok := x.attrs[k]; ok {
		return i
	}
	i := int32(x.d.AttributeTable().Len())
	a := x.d.AttributeTable().AppendEmpty()
	a.SetKeyStrindex(k.key)
	a.Value().SetStr(v)
	x.attrs[k] = i
	return i
}

func (x *dict) attrInt(key string, v int64) int32 {
	k := attrKey{key: x.str(key), str: "\x00int", i: v}
	if i, ok := x.attrs[k]; ok {
		return i
	}
	i := int32(x.d.AttributeTable().Len())
	a := x.d.AttributeTable().AppendEmpty()
	a.SetKeyStrindex(k.key)
	a.Value().SetInt(v)
	x.attrs[k] = i
	return i
}

func (x *dict) function(name, file string) int32 {
	k := [2]int32{x.str(name), x.str(file)}
	if i, ok := x.funcs[k]; ok {
		return i
	}
	i := int32(x.d.FunctionTable().Len())
	f := x.d.FunctionTable().AppendEmpty()
	f.SetNameStrindex(k[0])
	f.SetSystemNameStrindex(k[0])
	f.SetFilenameStrindex(k[1])
	x.funcs[k] = i
	return i
}

func (x *dict) mapping(module string) int32 {
	if module == "" {
		return 0
	}
	k := x.str(module)
	if i, ok := x.mappings[k]; ok {
		return i
	}
	i := int32(x.d.MappingTable().Len())
	x.d.MappingTable().AppendEmpty().SetFilenameStrindex(k)
	x.mappings[k] = i
	return i
}

// location is a frame: its module's mapping, its address (the offset in
// the module when the function is unknown) and its function and line.
func (x *dict) location(f profile.Frame) int32 {
	k := locKey{mapping: x.mapping(f.Module), fn: x.function(f.Name(), f.File), addr: f.Address, line: int64(f.Line)}
	if f.Function == "" {
		k.addr = f.Offset
	}
	if i, ok := x.locations[k]; ok {
		return i
	}
	i := int32(x.d.LocationTable().Len())
	l := x.d.LocationTable().AppendEmpty()
	l.SetMappingIndex(k.mapping)
	l.SetAddress(k.addr)
	line := l.Lines().AppendEmpty()
	line.SetFunctionIndex(k.fn)
	line.SetLine(k.line)
	x.locations[k] = i
	return i
}

// stack is a stack's index, its locations leaf first.
func (x *dict) stack(frames []profile.Frame) int32 {
	locs := make([]int32, len(frames))
	x.key = x.key[:0]
	for i, f := range frames {
		locs[i] = x.location(f)
		x.key = append(x.key, byte(locs[i]), byte(locs[i]>>8), byte(locs[i]>>16), byte(locs[i]>>24))
	}
	if i, ok := x.stacks[string(x.key)]; ok {
		return i
	}
	i := int32(x.d.StackTable().Len())
	x.d.StackTable().AppendEmpty().LocationIndices().FromRaw(locs)
	x.stacks[string(x.key)] = i
	return i
}
