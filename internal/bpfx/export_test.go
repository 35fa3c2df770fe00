package bpfx

// Kernel type cache internals, for tests.
var (
	TypeCacheFile  = typeCacheFile
	ReadTypeCache  = readTypeCache
	WriteTypeCache = writeTypeCache
)
