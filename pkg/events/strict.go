package events

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// strictJSON decodes data, one JSON value (encoding/json has checked that), into v, refusing
// unknown fields: an event with a misspelt field must fail, not run with that field's default.
func strictJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("event: %w", err)
	}
	return nil
}
