package metrics

// MapDrops is shared by the collectors whose kernel maps can refuse an
// update: the updates a full map dropped, by collector and map. Where the
// dropped counts go instead is said in the help of the collector's own
// families. Map fill is the agent's kscope_self_map_entries.
var MapDrops = NewCounter("kscope_self_map_drops_total",
	"Updates of a collector's BPF hash map dropped because the map was full.", "collector", "map")
