package events

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/athenausage/athena-usage/pkg/config"
)

const lookupDay = "2025-03-04"

func TestExtractDays(t *testing.T) {
	now := time.Date(2024, 3, 6, 2, 0, 5, 0, time.UTC)
	day := func(s string) time.Time { d, _ := config.ParseDay(s); return d }
	tests := []struct {
		name    string
		in      string
		want    []time.Time
		wantErr string
	}{
		{"scheduled", `{"version":"0","detail-type":"Scheduled Event","source":"aws.events","time":"2024-03-06T02:00:00Z","detail":{}}`, []time.Time{day("2024-03-05")}, ""},
		{"empty", `{}`, []time.Time{day("2024-03-05")}, ""},
		{"day", `{"day":"2024-02-29"}`, []time.Time{day("2024-02-29")}, ""},
		{"range", `{"from":"2024-02-28","to":"2024-03-01"}`, []time.Time{day("2024-02-28"), day("2024-02-29"), day("2024-03-01")}, ""},
		{"bad day", `{"day":"2024-2-29"}`, nil, "event field day"},
		{"impossible day", `{"day":"2023-02-29"}`, nil, "event field day"},
		{"reversed", `{"from":"2024-03-02","to":"2024-03-01"}`, nil, "before from"},
		{"half range", `{"from":"2024-03-02"}`, nil, "from and to go together"},
		{"day and range", `{"day":"2024-03-02","from":"2024-03-01","to":"2024-03-02"}`, nil, "not both"},
		{"future", `{"day":"2024-03-07"}`, nil, "future"},
		{"too long", `{"from":"2023-12-01","to":"2024-03-01"}`, nil, "more than 45 days"},
		{"other detail type", `{"detail-type":"Object Created","time":"2024-03-06T02:00:00Z"}`, nil, "detail-type"},
		{"bad time", `{"detail-type":"Scheduled Event","time":"yesterday"}`, nil, "event field time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e Extract
			if err := json.Unmarshal([]byte(tt.in), &e); err != nil {
				t.Fatal(err)
			}
			got, err := e.Days(now)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Days(%s) error = %v, want %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Days(%s): %v", tt.in, err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("Days(%s) = %v, want %v", tt.in, got, tt.want)
			}
			for i := range got {
				if !got[i].Equal(tt.want[i]) {
					t.Errorf("Days(%s)[%d] = %v, want %v", tt.in, i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestLookupValidate(t *testing.T) {
	good := Lookup{Day: lookupDay, Bucket: "usage-data", Key: "usage/athena_queries/dt=" + lookupDay + "/queries.csv", Part: 2, Offset: 300, ETag: `"e1"`, FirstID: "q-1"}
	tests := []struct {
		name    string
		event   func(Lookup) Lookup
		wantErr []string
	}{
		{"valid", func(e Lookup) Lookup { return e }, nil},
		{"bad day", func(e Lookup) Lookup { e.Day = "2025-02-30"; return e }, []string{"day:"}},
		{"bad bucket", func(e Lookup) Lookup { e.Bucket = "Bad_Bucket"; return e }, []string{"bucket:"}},
		{"no key", func(e Lookup) Lookup { e.Key = ""; return e }, []string{"key:"}},
		{"no prefix", func(e Lookup) Lookup { e.Key = "athena_queries/dt=" + lookupDay + "/queries.csv"; return e }, nil},
		{"first part", func(e Lookup) Lookup { e.Part, e.Offset, e.ETag, e.FirstID = 0, 0, "", ""; return e }, nil},
		{"first ID for part 0", func(e Lookup) Lookup { e.Part, e.Offset, e.ETag = 0, 0, ""; return e }, []string{"first_id:"}},
		{"another day's key", func(e Lookup) Lookup { e.Key = "usage/athena_queries/dt=2025-03-05/queries.csv"; return e }, []string{"key:", "not the athena_queries object of day " + lookupDay}},
		{"key with the day elsewhere", func(e Lookup) Lookup { e.Key = "athena_queries/dt=" + lookupDay + "/queries.csv.bak"; return e }, []string{"key:"}},
		{"negative part", func(e Lookup) Lookup { e.Part = -1; return e }, []string{"part: -1"}},
		{"negative offset", func(e Lookup) Lookup { e.Offset = -5; return e }, []string{"offset: -5"}},
		{"offset for part 0", func(e Lookup) Lookup { e.Part = 0; return e }, []string{"offset: 300 for part 0"}},
		{"part without offset", func(e Lookup) Lookup { e.Part, e.Offset = 99999, 0; return e }, []string{"part: 99999 without"}},
		{"part without etag", func(e Lookup) Lookup { e.ETag = ""; return e }, []string{"part: 2 without"}},
		{"part without first ID", func(e Lookup) Lookup { e.FirstID = ""; return e }, []string{"part: 2 without"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := tt.event(good)
			day, err := ev.Validate()
			if tt.wantErr == nil {
				if err != nil || day.Format(config.DayLayout) != lookupDay {
					t.Errorf("Validate(%+v) = %v, %v, want %s", ev, day, err, lookupDay)
				}
				return
			}
			for _, want := range tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("Validate(%+v) error = %v, want one containing %q", ev, err, want)
				}
			}
		})
	}
}

// TestFixtures loads the events in the repository's events/ folder, the ones `sam local invoke`
// is given, as the functions would receive them.
func TestFixtures(t *testing.T) {
	now := time.Date(2024, 3, 6, 2, 0, 5, 0, time.UTC)
	extract := []struct {
		file string
		want []string
	}{
		{"extract-schedule.json", []string{"2024-03-05"}},
		{"extract-day.json", []string{"2024-03-05"}},
		{"extract-range.json", []string{"2024-03-01", "2024-03-02", "2024-03-03"}},
	}
	for _, tt := range extract {
		t.Run(tt.file, func(t *testing.T) {
			var e Extract
			load(t, tt.file, &e)
			days, err := e.Days(now)
			if err != nil {
				t.Fatalf("Days(%s): %v", tt.file, err)
			}
			var got []string
			for _, d := range days {
				got = append(got, d.Format(config.DayLayout))
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("Days(%s) = %v, want %v", tt.file, got, tt.want)
			}
		})
	}
	t.Run("lookup.json", func(t *testing.T) {
		var ev Lookup
		load(t, "lookup.json", &ev)
		want := Lookup{Day: "2024-03-05", Bucket: "athena-usage-data-123456789012", Key: "athena_queries/dt=2024-03-05/queries.csv"}
		if ev != want {
			t.Errorf("lookup.json = %+v, want %+v", ev, want)
		}
		if _, err := ev.Validate(); err != nil {
			t.Errorf("Validate(lookup.json): %v", err)
		}
	})
}

// load decodes the fixture events/name into v.
func load(t *testing.T, name string, v any) {
	t.Helper()
	data, err := os.ReadFile("../../events/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func TestLookupJSON(t *testing.T) {
	cont := Lookup{Day: "2025-03-04", Bucket: "b-1", Key: "k", Part: 3, Offset: 12345, ETag: `"abc"`, FirstID: "q-7"}
	b, _ := json.Marshal(cont)
	if got := string(b); got != `{"day":"2025-03-04","bucket":"b-1","key":"k","part":3,"offset":12345,"etag":"\"abc\"","first_id":"q-7"}` {
		t.Errorf("json.Marshal(%+v) = %s", cont, got)
	}
}

func TestUnknownFieldsRefused(t *testing.T) {
	tests := []struct {
		name, in, want string
		v              any
	}{
		{"extract typo", `{"date":"2024-03-05"}`, `unknown field "date"`, &Extract{}},
		{"extract trailing data", `{"day":"2024-03-05"} {}`, "after top-level value", &Extract{}},
		{"lookup unknown", `{"day":"2024-03-05","bucket":"b","key":"k","parts":3}`, `unknown field "parts"`, &Lookup{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := json.Unmarshal([]byte(tt.in), tt.v)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("json.Unmarshal(%s) error = %v, want one containing %q", tt.in, err, tt.want)
			}
		})
	}
	// Every field of EventBridge's scheduled event is its own.
	var e Extract
	load(t, "extract-schedule.json", &e)
}

func TestLookupManifestBinds(t *testing.T) {
	m := LookupManifest{
		Day: lookupDay, Key: "k", ETag: `"e1"`,
		From:   Position{Part: 2, Offset: 300, FirstID: "q-2"},
		Next:   &Position{Part: 4, Offset: 900, FirstID: "q-4"},
		Before: LookupTotals{Parts: 2, IDs: 10},
		Done:   LookupTotals{Parts: 4, IDs: 20},
	}
	next := Lookup{Day: lookupDay, Bucket: "b", Key: "k", Part: 4, Offset: 900, ETag: `"e1"`, FirstID: "q-4"}
	tests := []struct {
		name   string
		edit   func(*Lookup)
		want   LookupTotals
		wantOK bool
	}{
		{"next", func(*Lookup) {}, m.Done, true},
		{"retry of the writer", func(e *Lookup) { e.Part, e.Offset, e.FirstID = 2, 300, "q-2" }, m.Before, true},
		{"another part", func(e *Lookup) { e.Part = 99999 }, LookupTotals{}, false},
		{"another offset", func(e *Lookup) { e.Offset++ }, LookupTotals{}, false},
		{"another first ID", func(e *Lookup) { e.FirstID = "q-5" }, LookupTotals{}, false},
		{"another ETag", func(e *Lookup) { e.ETag = `"e2"` }, LookupTotals{}, false},
		{"another day", func(e *Lookup) { e.Day = "2024-03-06" }, LookupTotals{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := next
			tt.edit(&ev)
			if got, ok := m.Binds(ev); got != tt.want || ok != tt.wantOK {
				t.Errorf("Binds(%+v) = %+v, %v, want %+v, %v", ev, got, ok, tt.want, tt.wantOK)
			}
		})
	}
	if complete := (LookupManifest{ETag: `"e1"`, Complete: true}); !complete.CompleteFor(`"e1"`) || complete.CompleteFor(`"e2"`) || m.CompleteFor(`"e1"`) {
		t.Errorf("CompleteFor: want true only for a complete manifest's own ETag")
	}
}
