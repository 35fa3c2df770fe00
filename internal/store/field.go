package store

import (
	"encoding/json"
)

// fieldText returns a top-level field of a JSON object as text: strings
// as they are, numbers and booleans as written, anything else as JSON.
func fieldText(data []byte, field string) (string, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return "", err
	}
	raw, ok := m[field]
	if !ok {
		return "", errNotFound
	}
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	}
	return string(raw), nil
}
