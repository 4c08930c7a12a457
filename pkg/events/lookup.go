package events

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/athenausage/athena-usage/pkg/config"
)

// Lookup asks the lookup function for one day's query statistics. The extract function sends
// the first (part and offset 0); the lookup function sends itself the rest when it runs short
// of time.
type Lookup struct {
	// Day is the UTC day, YYYY-MM-DD.
	Day string `json:"day"`
	// Bucket and Key name the day's athena_queries object (Athena's result CSV).
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
	// Part is the number of the first part to write.
	Part int `json:"part,omitempty"`
	// Offset is the byte offset in the object where the first record of Part starts; 0 is the
	// start of the file, header included.
	Offset int64 `json:"offset,omitempty"`
	// ETag is the object's ETag when the day's first invocation read it: a continuation only
	// reads the same version, since its Offset means nothing in another.
	ETag string `json:"etag,omitempty"`
	// FirstID is the first query ID of Part, read at Offset: with the day's manifest it binds a
	// continuation to the invocation that handed it over.
	FirstID string `json:"first_id,omitempty"`
}

// UnmarshalJSON decodes an event and refuses fields it does not know.
func (e *Lookup) UnmarshalJSON(data []byte) error {
	type plain Lookup
	return strictJSON(data, (*plain)(e))
}

// Validate checks the event and returns its day; the error names every field that is wrong.
// The key must be the day's athena_queries object, so that an event cannot write one day's
// statistics as another's; a continuation (part above 0) must carry where its part starts and
// the version of the object it was cut from.
func (e Lookup) Validate() (time.Time, error) {
	var errs []error
	day, err := config.ParseDay(e.Day)
	if err != nil {
		errs = append(errs, fmt.Errorf("day: %w", err))
	}
	if err := config.ValidateBucket(e.Bucket); err != nil {
		errs = append(errs, fmt.Errorf("bucket: %w", err))
	}
	if e.Key == "" {
		errs = append(errs, errors.New("key: is empty"))
	} else if want := "athena_queries/dt=" + e.Day + "/queries.csv"; err == nil && e.Key != want && !strings.HasSuffix(e.Key, "/"+want) {
		errs = append(errs, fmt.Errorf("key: %q is not the athena_queries object of day %s (…%s)", e.Key, e.Day, want))
	}
	switch {
	case e.Part < 0:
		errs = append(errs, fmt.Errorf("part: %d is negative", e.Part))
	case e.Offset < 0:
		errs = append(errs, fmt.Errorf("offset: %d is negative", e.Offset))
	case e.Part == 0 && e.Offset != 0:
		errs = append(errs, fmt.Errorf("offset: %d for part 0, which starts at the top of the object", e.Offset))
	case e.Part > 0 && (e.Offset == 0 || e.ETag == "" || e.FirstID == ""):
		errs = append(errs, fmt.Errorf("part: %d without the offset, etag and first_id of the invocation that handed it over", e.Part))
	case e.Part == 0 && e.FirstID != "":
		errs = append(errs, fmt.Errorf("first_id: %q for part 0, which starts at the top of the object", e.FirstID))
	}
	if err := errors.Join(errs...); err != nil {
		return time.Time{}, fmt.Errorf("invalid event: %w", err)
	}
	return day, nil
}
