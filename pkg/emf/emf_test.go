package emf

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func TestPutWritesOneLine(t *testing.T) {
	var buf bytes.Buffer
	w := New(&buf, func(o *Options) { o.Dimensions = []Dimension{{"Stack", "usage"}} })
	if err := w.Put([]Dimension{{"ErrorCode", "INVALID_INPUT"}}, Metric{"UnprocessedIds", Count, 3}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if n := strings.Count(buf.String(), "\n"); n != 1 {
		t.Fatalf("Put wrote %d lines, want 1: %q", n, buf.String())
	}
	var got struct {
		AWS struct {
			Timestamp         int64
			CloudWatchMetrics []directive
		} `json:"_aws"`
		Stack          string
		ErrorCode      string
		UnprocessedIDs float64 `json:"UnprocessedIds"`
	}
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("line is not JSON: %v", err)
	}
	if got.AWS.Timestamp == 0 || len(got.AWS.CloudWatchMetrics) != 1 {
		t.Fatalf("_aws = %+v, want a timestamp and one directive", got.AWS)
	}
	d := got.AWS.CloudWatchMetrics[0]
	if d.Namespace != DefaultNamespace || len(d.Dimensions) != 1 || strings.Join(d.Dimensions[0], ",") != "Stack,ErrorCode" {
		t.Errorf("directive = %+v, want namespace %s, dimensions [Stack ErrorCode]", d, DefaultNamespace)
	}
	if got.Stack != "usage" || got.ErrorCode != "INVALID_INPUT" || got.UnprocessedIDs != 3 {
		t.Errorf("members = %+v, want the dimension values and the metric's value", got)
	}
}

func TestPutRefuses(t *testing.T) {
	tests := []struct {
		name    string
		dims    []Dimension
		metrics []Metric
	}{
		{"no metrics", nil, nil},
		{"unknown unit", nil, []Metric{{"X", "Widgets", 1}}},
		{"not finite", nil, []Metric{{"X", Count, math.NaN()}}},
		{"repeated name", nil, []Metric{{"X", Count, 1}, {"X", Count, 2}}},
		{"metric named like a dimension", []Dimension{{"X", "a"}}, []Metric{{"X", Count, 1}}},
		{"empty dimension value", []Dimension{{"D", ""}}, []Metric{{"X", Count, 1}}},
		{"reserved name", nil, []Metric{{"_aws", Count, 1}}},
		{"value beyond 2^360", nil, []Metric{{"X", Count, 0x1p361}}},
		{"value nearer zero than 2^-360", nil, []Metric{{"X", Count, 0x1p-361}}},
		{"dimension value not ASCII", []Dimension{{"D", "café"}}, []Metric{{"X", Count, 1}}},
		{"blank dimension value", []Dimension{{"D", "  "}}, []Metric{{"X", Count, 1}}},
		{"dimension value of 1025 bytes", []Dimension{{"D", strings.Repeat("v", 1025)}}, []Metric{{"X", Count, 1}}},
		{"name starting with a colon", nil, []Metric{{":X", Count, 1}}},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		if err := New(&buf).Put(tt.dims, tt.metrics...); err == nil || buf.Len() != 0 {
			t.Errorf("%s: Put = %v, wrote %q; want an error and nothing written", tt.name, err, buf.String())
		}
	}
	var buf bytes.Buffer
	if err := New(&buf, func(o *Options) { o.Namespace = "AWS/Lambda" }).Put(nil, Metric{"X", Count, 1}); err == nil || buf.Len() != 0 {
		t.Errorf("Put in namespace AWS/Lambda = %v, wrote %q; want an error and nothing written", err, buf.String())
	}
	// The longest dimension value CloudWatch takes is 1024 characters.
	if err := New(&buf).Put([]Dimension{{"D", strings.Repeat("v", 1024)}}, Metric{"X", Count, 1}); err != nil {
		t.Errorf("Put with a dimension value of 1024 bytes = %v, want no error", err)
	}
}

func TestNilWriterWritesNothing(t *testing.T) {
	var w *Writer
	if err := w.Put(nil, Metric{"X", Count, 1}); err != nil {
		t.Errorf("nil Writer Put = %v, want nil", err)
	}
}
