package events

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestAlertTarget(t *testing.T) {
	now := time.Date(2024, 3, 6, 8, 0, 5, 0, time.UTC)
	tests := []struct {
		name          string
		in            string
		wantDay       string
		wantFreshness bool
		wantErr       string
	}{
		{"day", `{"day":"2024-03-05"}`, "2024-03-05", false, ""},
		{"scheduled", `{"version":"0","detail-type":"Scheduled Event","source":"aws.events","time":"2024-03-06T08:00:00Z","detail":{}}`, "2024-03-05", true, ""},
		{"scheduled just after midnight", `{"detail-type":"Scheduled Event","time":"2024-03-06T00:00:01Z"}`, "2024-03-05", true, ""},
		{"empty", `{}`, "", false, "give"},
		{"bad day", `{"day":"2024-3-5"}`, "", false, "event field day"},
		{"future", `{"day":"2024-03-07"}`, "", false, "future"},
		{"both", `{"day":"2024-03-05","detail-type":"Scheduled Event"}`, "", false, "not both"},
		{"other detail type", `{"detail-type":"Object Created","time":"2024-03-06T08:00:00Z"}`, "", false, "detail-type"},
		{"time alone", `{"time":"2024-03-06T08:00:00Z"}`, "", false, "detail-type"},
		{"bad time", `{"detail-type":"Scheduled Event","time":"today"}`, "", false, "event field time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e Alert
			if err := json.Unmarshal([]byte(tt.in), &e); err != nil {
				t.Fatal(err)
			}
			day, freshness, err := e.Target(now)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Target(%s) error = %v, want %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || day.Format("2006-01-02") != tt.wantDay || freshness != tt.wantFreshness {
				t.Errorf("Target(%s) = %v, %v, %v, want %s, %v", tt.in, day, freshness, err, tt.wantDay, tt.wantFreshness)
			}
		})
	}
}

func TestAlertFixtures(t *testing.T) {
	now := time.Date(2024, 3, 6, 8, 0, 5, 0, time.UTC)
	for _, tt := range []struct {
		file          string
		wantFreshness bool
	}{
		{"alert-day.json", false},
		{"alert-freshness.json", true},
	} {
		var e Alert
		load(t, tt.file, &e)
		day, freshness, err := e.Target(now)
		if err != nil || day.Format("2006-01-02") != "2024-03-05" || freshness != tt.wantFreshness {
			t.Errorf("Target(%s) = %v, %v, %v, want 2024-03-05, %v", tt.file, day, freshness, err, tt.wantFreshness)
		}
	}
	var e Alert
	if err := json.Unmarshal([]byte(`{"date":"2024-03-05"}`), &e); err == nil || !strings.Contains(err.Error(), `unknown field "date"`) {
		t.Errorf(`json.Unmarshal({"date":...}) error = %v, want unknown field "date"`, err)
	}
}
