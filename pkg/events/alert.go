package events

import (
	"errors"
	"fmt"
	"time"

	"github.com/athenausage/athena-usage/pkg/config"
)

// Alert is what the alert function accepts: {"day":"YYYY-MM-DD"}, which the lookup sends when
// it completes a day, to check that day's users against the alert rules; or the freshness
// schedule's EventBridge scheduled event, to check that the day before its time is complete.
type Alert struct {
	Day string `json:"day,omitempty"`

	// The fields of an EventBridge scheduled event.
	Schedule
}

// UnmarshalJSON decodes an event and refuses fields it does not know.
func (e *Alert) UnmarshalJSON(data []byte) error {
	type plain Alert
	return strictJSON(data, (*plain)(e))
}

// Target returns the day the event is about and whether it asks for the freshness check (the
// schedule's event: the day before its time) rather than the alerts of a completed day. now is
// the current time. An empty event is refused: the two checks differ too much for either to
// be a default.
func (e Alert) Target(now time.Time) (day time.Time, freshness bool, err error) {
	scheduled := e.DetailType != "" || e.Time != ""
	switch {
	case e.Day != "" && scheduled:
		return time.Time{}, false, errors.New("event: give either day or a scheduled event, not both")
	case e.Day != "":
		d, err := config.ParseDay(e.Day)
		if err != nil {
			return time.Time{}, false, fmt.Errorf("event field day: %w", err)
		}
		return d, false, checkNotFuture(d, now)
	case !scheduled:
		return time.Time{}, false, errors.New(`event: give {"day":"YYYY-MM-DD"} or a scheduled event`)
	case e.DetailType != "Scheduled Event":
		return time.Time{}, false, fmt.Errorf("event field detail-type %q: want \"Scheduled Event\"", e.DetailType)
	}
	t := now
	if e.Time != "" {
		if t, err = time.Parse(time.RFC3339, e.Time); err != nil {
			return time.Time{}, false, fmt.Errorf("event field time %q: want RFC 3339", e.Time)
		}
	}
	return previousDay(t), true, nil
}
