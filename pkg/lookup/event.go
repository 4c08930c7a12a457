package lookup

import (
	"errors"
	"fmt"
	"time"

	"github.com/athenausage/athena-usage/pkg/config"
)

// Event asks the lookup function for one day's query statistics. The extract function sends
// the first (part and offset 0); the lookup function sends itself the rest when it runs short
// of time.
type Event struct {
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
}

// Validate checks the event and returns its day; the error names every field that is wrong.
func (e Event) Validate() (time.Time, error) {
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
	}
	if e.Part < 0 {
		errs = append(errs, fmt.Errorf("part: %d is negative", e.Part))
	}
	if e.Offset < 0 {
		errs = append(errs, fmt.Errorf("offset: %d is negative", e.Offset))
	}
	if err := errors.Join(errs...); err != nil {
		return time.Time{}, fmt.Errorf("invalid event: %w", err)
	}
	return day, nil
}

// Result says what one invocation did.
type Result struct {
	// Day is the event's day.
	Day string `json:"day"`
	// FirstPart is the number of the first part this invocation wrote.
	FirstPart int `json:"first_part"`
	// Parts is the number of parts this invocation wrote.
	Parts int `json:"parts"`
	// IDs is the number of query IDs in those parts.
	IDs int `json:"ids"`
	// LookupErrors is the number of those IDs written with a lookup error.
	LookupErrors int `json:"lookup_errors"`
	// OtherAccount is the number of those lookup errors that are queries of another account,
	// not looked up because no role to assume there is configured (LookupErrorOtherAccount).
	OtherAccount int `json:"other_account,omitempty"`
	// Unprocessed counts the IDs Athena returned unprocessed with a transient code, once per time.
	Unprocessed int64 `json:"unprocessed"`
	// Continued is true when the rest of the day was handed to a new invocation.
	Continued bool `json:"continued"`
	// NextPart and NextOffset are where that invocation starts.
	NextPart   int   `json:"next_part,omitempty"`
	NextOffset int64 `json:"next_offset,omitempty"`
	// StaleParts is the number of parts deleted that an earlier run with more IDs had left.
	StaleParts int `json:"stale_parts,omitempty"`
	// Superseded is true when the object changed since the day's first invocation read it: a
	// newer run of the day owns the parts, so this one stopped writing (Parts says how many it
	// wrote before it noticed) and deleted nothing.
	Superseded bool `json:"superseded,omitempty"`
}
