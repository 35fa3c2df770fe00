// Package config reads the agent's YAML configuration. Every error names
// the file, the line and the key, and unknown keys are errors: a typo must
// not silently leave the default in place. The collectors' sections come
// from the registry's facts, passed in as Sections (this package imports
// no collector): each collector's options decode into its own struct.
package config
