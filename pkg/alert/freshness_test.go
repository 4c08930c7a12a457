package alert

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/athenausage/athena-usage/pkg/athenasql"
	"github.com/athenausage/athena-usage/pkg/events"
)

func TestFreshness(t *testing.T) {
	day := time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)
	queries := athenasql.QueriesKey("usage/", day)
	manifest := func(complete bool) []byte {
		b, _ := json.Marshal(events.LookupManifest{Day: "2024-03-05", Key: queries, ETag: `"e1"`, Complete: complete})
		return b
	}
	tests := []struct {
		name      string
		objects   map[string][]byte
		wantState string
		wantValue string
	}{
		{"complete", map[string][]byte{queries: []byte("query_id\nq-1\n"), athenasql.LookupManifestKey("usage/", day): manifest(true)}, "complete", `"DataFresh":1`},
		{"partial", map[string][]byte{queries: []byte("query_id\nq-1\n"), athenasql.LookupManifestKey("usage/", day): manifest(false)}, "partial", `"DataFresh":0`},
		{"not extracted", nil, "missing", `"DataFresh":0`},
	}
	ev := events.Alert{Schedule: events.Schedule{DetailType: "Scheduled Event", Time: "2024-03-06T08:00:00Z"}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			for k, v := range tt.objects {
				w.s3.put(k, `"e1"`, v)
			}
			res, err := w.h.Handle(context.Background(), ev)
			if err != nil || res.Check != CheckFreshness || res.Day != "2024-03-05" || res.State != tt.wantState || res.Fresh != (tt.wantState == "complete") {
				t.Fatalf("Handle(freshness) = %+v, %v, want 2024-03-05 %s", res, err, tt.wantState)
			}
			line := w.metrics.String()
			for _, want := range []string{tt.wantValue, `"Stack":"athena-usage"`, `"Name":"DataFresh","Unit":"Count"`, `"Namespace":"AthenaUsage"`} {
				if !strings.Contains(line, want) {
					t.Errorf("metrics = %s, want %s", line, want)
				}
			}
			if len(w.sns.messages()) != 0 {
				t.Errorf("the freshness check published %d messages, want none (the alarm does)", len(w.sns.messages()))
			}
		})
	}
	t.Run("S3 fails", func(t *testing.T) {
		w := newWorld(t)
		w.s3.err = errBoom
		if _, err := w.h.Handle(context.Background(), ev); !errors.Is(err, errBoom) || w.metrics.Len() != 0 {
			t.Errorf("Handle(freshness) with S3 failing = %v, metrics %q, want the error and no metric (a missing value alarms)", err, w.metrics)
		}
	})
}

func TestNewValidates(t *testing.T) {
	w := newWorld(t)
	cfg := w.h.cfg
	cfg.TopicARN, cfg.Ratio = "not-an-arn", 0.5
	_, err := New(cfg, Clients{Athena: w.athena, S3: w.s3})
	for _, want := range []string{"topic ARN", "ratio 0.5", "SNS are all required"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New(bad) error = %v, want it to contain %q", err, want)
		}
	}
	if w.h.rules != (Rules{ThresholdUSD: DefaultThresholdUSD, Ratio: DefaultRatio, MinCostUSD: DefaultMinCostUSD}) {
		t.Errorf("New(zero rules) rules = %+v, want the defaults", w.h.rules)
	}
}
