package sched

// SetSkipStorage leaves the tasks that exist at Start without task storage.
func SetSkipStorage(on bool) { skipStorage = on }

// SetMapSizes overrides the max_entries of the named maps.
func SetMapSizes(m map[string]uint32) { mapSizes = m }

// MapWaitsHash is the fallback's pid map.
const MapWaitsHash = schedMapWaitsHash

// LatLo and LatSlots describe the kernel's latency slots.
const (
	LatLo    = latLo
	LatSlots = len(schedHist{}.Slots)
)

// ObjectLatLo reads LAT_LO from the compiled BPF object.
func ObjectLatLo() (uint32, error) {
	spec, err := loadSched()
	if err != nil {
		return 0, err
	}
	var v uint32
	err = spec.Variables[schedVarLatLo].Get(&v)
	return v, err
}
