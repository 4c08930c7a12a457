// Package emf writes CloudWatch Embedded Metric Format lines: JSON log lines that CloudWatch
// Logs turns into metrics without a PutMetricData call. A Lambda function prints them on
// standard output; Lambda's JSON log format passes a line that is already JSON through as is.
//
// The format is specified at
// https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
package emf

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sync"
	"time"
)

// DefaultNamespace is the CloudWatch namespace of athena-usage's metrics.
const DefaultNamespace = "AthenaUsage"

// Limits of the specification.
const (
	// MaxDimensions is the most dimensions one dimension set may hold.
	MaxDimensions = 30
	// MaxMetrics is the most metrics one directive may hold.
	MaxMetrics = 100
	// maxNameLen is the longest metric or dimension name (and dimension value) allowed.
	maxNameLen = 255
)

// Unit is a CloudWatch metric unit.
type Unit string

// The units athena-usage uses; CloudWatch accepts these names exactly.
const (
	Count        Unit = "Count"
	Bytes        Unit = "Bytes"
	Milliseconds Unit = "Milliseconds"
	Seconds      Unit = "Seconds"
	CountPerSec  Unit = "Count/Second"
	None         Unit = "None"
)

// Units is every unit the specification allows, for validation by writers and readers.
var Units = map[Unit]bool{
	"Seconds": true, "Microseconds": true, "Milliseconds": true,
	"Bytes": true, "Kilobytes": true, "Megabytes": true, "Gigabytes": true, "Terabytes": true,
	"Bits": true, "Kilobits": true, "Megabits": true, "Gigabits": true, "Terabits": true,
	"Percent": true, "Count": true,
	"Bytes/Second": true, "Kilobytes/Second": true, "Megabytes/Second": true, "Gigabytes/Second": true,
	"Terabytes/Second": true, "Bits/Second": true, "Kilobits/Second": true, "Megabits/Second": true,
	"Gigabits/Second": true, "Terabits/Second": true, "Count/Second": true, "None": true,
}

// Metric is one value of a metric.
type Metric struct {
	Name  string
	Unit  Unit
	Value float64
}

// Dimension is one dimension's name and value.
type Dimension struct {
	Name  string
	Value string
}

// Options configure a Writer.
type Options struct {
	// Namespace is the metrics' CloudWatch namespace; empty means DefaultNamespace.
	Namespace string
	// Dimensions are added to every line, before a line's own (for example the stack's name).
	Dimensions []Dimension
}

// Writer writes one EMF line per Put. It is safe for concurrent use. A nil *Writer writes
// nothing, so that a handler without metrics needs no checks.
type Writer struct {
	w    io.Writer
	opts Options

	mu sync.Mutex
}

// New returns a Writer that writes lines to w.
func New(w io.Writer, optFns ...func(*Options)) *Writer {
	var o Options
	for _, fn := range optFns {
		fn(&o)
	}
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	o.Dimensions = append([]Dimension(nil), o.Dimensions...)
	return &Writer{w: w, opts: o}
}

// Put writes the metrics as one line, under the Writer's dimensions followed by dims. It
// refuses, writing nothing, what CloudWatch would reject or silently drop: no metrics, too
// many, an unknown unit, a value that is not finite, an empty or repeated name, a name that
// collides with a dimension's.
func (w *Writer) Put(dims []Dimension, metrics ...Metric) error {
	if w == nil {
		return nil
	}
	line, err := w.encode(time.Now(), dims, metrics)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := w.w.Write(line); err != nil {
		return fmt.Errorf("write metrics: %w", err)
	}
	return nil
}

type metricDirective struct {
	Name string `json:"Name"`
	Unit Unit   `json:"Unit"`
}

type directive struct {
	Namespace  string            `json:"Namespace"`
	Dimensions [][]string        `json:"Dimensions"`
	Metrics    []metricDirective `json:"Metrics"`
}

type metadata struct {
	Timestamp         int64       `json:"Timestamp"`
	CloudWatchMetrics []directive `json:"CloudWatchMetrics"`
}

func (w *Writer) encode(now time.Time, dims []Dimension, metrics []Metric) ([]byte, error) {
	if len(metrics) == 0 || len(metrics) > MaxMetrics {
		return nil, fmt.Errorf("metrics line: %d metrics, want 1 to %d", len(metrics), MaxMetrics)
	}
	all := append(append([]Dimension(nil), w.opts.Dimensions...), dims...)
	if len(all) > MaxDimensions {
		return nil, fmt.Errorf("metrics line: %d dimensions, want at most %d", len(all), MaxDimensions)
	}
	root := map[string]any{}
	names := make([]string, 0, len(all))
	for _, d := range all {
		if err := checkName("dimension", d.Name, root); err != nil {
			return nil, err
		}
		if d.Value == "" || len(d.Value) > maxNameLen {
			return nil, fmt.Errorf("metrics line: dimension %q has a value of %d bytes, want 1 to %d", d.Name, len(d.Value), maxNameLen)
		}
		root[d.Name] = d.Value
		names = append(names, d.Name)
	}
	ms := make([]metricDirective, 0, len(metrics))
	for _, m := range metrics {
		if err := checkName("metric", m.Name, root); err != nil {
			return nil, err
		}
		if !Units[m.Unit] {
			return nil, fmt.Errorf("metrics line: metric %q has unit %q, which CloudWatch does not know", m.Name, m.Unit)
		}
		if math.IsNaN(m.Value) || math.IsInf(m.Value, 0) {
			return nil, fmt.Errorf("metrics line: metric %q is %v, want a finite number", m.Name, m.Value)
		}
		root[m.Name] = m.Value
		ms = append(ms, metricDirective{Name: m.Name, Unit: m.Unit})
	}
	root["_aws"] = metadata{
		Timestamp:         now.UnixMilli(),
		CloudWatchMetrics: []directive{{Namespace: w.opts.Namespace, Dimensions: [][]string{names}, Metrics: ms}},
	}
	line, err := json.Marshal(root)
	if err != nil {
		return nil, fmt.Errorf("metrics line: %w", err)
	}
	return append(line, '\n'), nil
}

func checkName(kind, name string, taken map[string]any) error {
	if name == "" || len(name) > maxNameLen {
		return fmt.Errorf("metrics line: %s name %q must be 1 to %d bytes", kind, name, maxNameLen)
	}
	if name == "_aws" {
		return fmt.Errorf("metrics line: %s name %q is reserved", kind, name)
	}
	if _, dup := taken[name]; dup {
		return fmt.Errorf("metrics line: %s name %q is used twice", kind, name)
	}
	return nil
}
