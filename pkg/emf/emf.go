// Package emf writes CloudWatch Embedded Metric Format lines: JSON log lines that CloudWatch
// Logs turns into metrics without a PutMetricData call. A Lambda function prints them on
// standard output; Lambda's JSON log format passes a line that is already JSON through as is.
//
// The format is specified at
// https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
// Parse reads a line back and checks it against that specification, so that tests can hold
// what the functions print to it.
package emf

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"time"
)

// DefaultNamespace is the CloudWatch namespace of athena-usage's metrics.
const DefaultNamespace = "AthenaUsage"

// StackDimension is the dimension every athena-usage metric carries: the stack's name, so that
// two stacks in one account and region keep their metrics apart.
const StackDimension = "Stack"

// Limits of the specification and of CloudWatch's metric API, which the extracted metrics must
// also pass.
const (
	// MaxDimensions is the most dimensions one dimension set may hold.
	MaxDimensions = 30
	// MaxMetrics is the most metrics one directive may hold.
	MaxMetrics = 100
	// MaxValues is the most values one metric's array may hold.
	MaxValues = 100
	// MaxLineBytes is the largest document: CloudWatch Logs' event size when the specification
	// was written (256 KB; now 1 MB), kept as the bound since these lines are a few hundred bytes.
	MaxLineBytes = 256 << 10
	// maxNameLen is the longest namespace, metric name or dimension name.
	maxNameLen = 255
	// maxValueLen is the longest dimension value.
	maxValueLen = 1024
	// maxMagnitude bounds a value: CloudWatch rejects values beyond ±2^360, and non-zero ones
	// nearer zero than 2^-360.
	maxMagnitude = 0x1p360
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

// ForStack gives every line the StackDimension with the stack's name.
func ForStack(name string) func(*Options) {
	return func(o *Options) { o.Dimensions = append(o.Dimensions, Dimension{Name: StackDimension, Value: name}) }
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
// many, an unknown unit, a value that is not finite or out of CloudWatch's range, an empty,
// repeated or non-ASCII name, a name that collides with a dimension's.
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
	if err := checkNamespace(w.opts.Namespace); err != nil {
		return nil, fmt.Errorf("metrics line: %w", err)
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
		if err := checkText(fmt.Sprintf("dimension %q value", d.Name), d.Value, maxValueLen); err != nil {
			return nil, fmt.Errorf("metrics line: %w", err)
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
		if err := checkValue(m.Value); err != nil {
			return nil, fmt.Errorf("metrics line: metric %q: %w", m.Name, err)
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
	if err := checkText(kind+" name", name, maxNameLen); err != nil {
		return fmt.Errorf("metrics line: %w", err)
	}
	if name == "_aws" {
		return fmt.Errorf("metrics line: %s name %q is reserved", kind, name)
	}
	if _, dup := taken[name]; dup {
		return fmt.Errorf("metrics line: %s name %q is used twice", kind, name)
	}
	return nil
}

// checkText checks a namespace, name or dimension value by CloudWatch's rules: 1 to limit
// printable ASCII characters, not all spaces, not starting with a colon.
func checkText(what, s string, limit int) error {
	if s == "" || len(s) > limit {
		return fmt.Errorf("%s %q has %d bytes, want 1 to %d", what, s, len(s), limit)
	}
	if s[0] == ':' || strings.TrimSpace(s) == "" {
		return fmt.Errorf("%s %q must not start with ':' or be blank", what, s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return fmt.Errorf("%s %q holds a character that is not printable ASCII", what, s)
		}
	}
	return nil
}

// checkNamespace checks a namespace: text that does not claim AWS's own prefix.
func checkNamespace(ns string) error {
	if strings.HasPrefix(ns, "AWS/") {
		return fmt.Errorf("namespace %q: AWS/ is reserved for AWS's own metrics", ns)
	}
	return checkText("namespace", ns, maxNameLen)
}

// checkValue checks a value by CloudWatch's rules: finite, and 0 or of a magnitude from 2^-360
// to 2^360.
func checkValue(v float64) error {
	a := math.Abs(v)
	if math.IsNaN(v) || a > maxMagnitude || (a != 0 && a < 1/maxMagnitude) {
		return fmt.Errorf("value %v: want 0 or a finite number of magnitude 2^-360 to 2^360", v)
	}
	return nil
}
