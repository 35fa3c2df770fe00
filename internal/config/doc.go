// Package config reads the agent's YAML configuration. Every error names
// the file, the line and the key, and unknown keys are errors: a typo must
// not silently leave the default in place.
package config
