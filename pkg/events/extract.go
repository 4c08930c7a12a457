package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/athenausage/athena-usage/pkg/config"
)

// MaxDays bounds a manual range. Athena keeps 45 days of query history, so older days can no
// longer get statistics; one invocation continues itself when a range outlasts its deadline.
const MaxDays = 45

// Extract is what the extract function accepts: an EventBridge scheduled event (the previous UTC
// day of its time), {"day":"YYYY-MM-DD"}, or {"from":"YYYY-MM-DD","to":"YYYY-MM-DD"} (inclusive).
// An empty event means the previous UTC day.
type Extract struct {
	Day  string `json:"day,omitempty"`
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`

	// The fields of an EventBridge scheduled event.
	Schedule
}

// Schedule holds the fields of an EventBridge scheduled event. Only DetailType and Time are
// used; the others are listed so that an event with a field of neither kind (a typo such as
// "date") is refused instead of silently meaning the previous day.
type Schedule struct {
	DetailType string          `json:"detail-type,omitempty"`
	Source     string          `json:"source,omitempty"`
	Time       string          `json:"time,omitempty"`
	Version    string          `json:"version,omitempty"`
	ID         string          `json:"id,omitempty"`
	Account    string          `json:"account,omitempty"`
	Region     string          `json:"region,omitempty"`
	Resources  []string        `json:"resources,omitempty"`
	Detail     json.RawMessage `json:"detail,omitempty"`
}

// UnmarshalJSON decodes an event and refuses fields it does not know.
func (e *Extract) UnmarshalJSON(data []byte) error {
	type plain Extract
	return strictJSON(data, (*plain)(e))
}

// Scheduled reports whether the event is the schedule's (or empty, which means the same): a
// run for the previous day, which also re-checks the days before it for late deliveries.
func (e Extract) Scheduled() bool {
	return e.Day == "" && e.From == "" && e.To == ""
}

// Days returns the UTC days the event asks for, in order. now is the current time.
func (e Extract) Days(now time.Time) ([]time.Time, error) {
	manual := e.Day != "" || e.From != "" || e.To != ""
	scheduled := e.DetailType != "" || e.Time != ""
	switch {
	case manual && scheduled:
		return nil, errors.New("event: give either day/from/to or a scheduled event, not both")
	case e.Day != "" && (e.From != "" || e.To != ""):
		return nil, errors.New("event: give either day or from/to, not both")
	case e.Day != "":
		d, err := config.ParseDay(e.Day)
		if err != nil {
			return nil, fmt.Errorf("event field day: %w", err)
		}
		return []time.Time{d}, checkNotFuture(d, now)
	case e.From != "" || e.To != "":
		return rangeDays(e.From, e.To, now)
	case scheduled:
		if e.DetailType != "" && e.DetailType != "Scheduled Event" {
			return nil, fmt.Errorf("event field detail-type %q: want \"Scheduled Event\"", e.DetailType)
		}
		t := now
		if e.Time != "" {
			var err error
			if t, err = time.Parse(time.RFC3339, e.Time); err != nil {
				return nil, fmt.Errorf("event field time %q: want RFC 3339", e.Time)
			}
		}
		return []time.Time{previousDay(t)}, nil
	default:
		return []time.Time{previousDay(now)}, nil
	}
}

func rangeDays(from, to string, now time.Time) ([]time.Time, error) {
	if from == "" || to == "" {
		return nil, errors.New("event: from and to go together")
	}
	f, err := config.ParseDay(from)
	if err != nil {
		return nil, fmt.Errorf("event field from: %w", err)
	}
	t, err := config.ParseDay(to)
	if err != nil {
		return nil, fmt.Errorf("event field to: %w", err)
	}
	if t.Before(f) {
		return nil, fmt.Errorf("event: to %s is before from %s", to, from)
	}
	if err := checkNotFuture(t, now); err != nil {
		return nil, err
	}
	var days []time.Time
	for d := f; !d.After(t); d = d.AddDate(0, 0, 1) {
		if len(days) == MaxDays {
			return nil, fmt.Errorf("event: %s to %s is more than %d days", from, to, MaxDays)
		}
		days = append(days, d)
	}
	return days, nil
}

func checkNotFuture(day, now time.Time) error {
	if day.After(now.UTC()) {
		return fmt.Errorf("event: day %s is in the future", day.Format(config.DayLayout))
	}
	return nil
}

func previousDay(t time.Time) time.Time {
	return t.UTC().Truncate(24*time.Hour).AddDate(0, 0, -1)
}
