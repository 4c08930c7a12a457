package emf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Document is one EMF line that Parse found valid.
type Document struct {
	// Timestamp is the metadata's Timestamp.
	Timestamp time.Time
	// Directives are the metadata's CloudWatchMetrics, with the values they refer to.
	Directives []Directive
}

// Directive is one MetricDirective with its references resolved.
type Directive struct {
	Namespace string
	// DimensionSets are the directive's dimension sets, each with its dimensions' values.
	DimensionSets [][]Dimension
	Metrics       []Values
}

// Values are one MetricDefinition's values.
type Values struct {
	Name string
	// Unit is None when the definition gives none, as the specification says.
	Unit   Unit
	Values []float64
	// StorageResolution is 60 (seconds) when the definition gives none.
	StorageResolution int
}

// Sample is one value as CloudWatch would store it: a metric of a namespace under one
// dimension set.
type Sample struct {
	Namespace  string
	Name       string
	Unit       Unit
	Dimensions []Dimension
	Value      float64
}

// Samples returns the document's values, one per metric value and dimension set.
func (d Document) Samples() []Sample {
	var out []Sample
	for _, dir := range d.Directives {
		for _, dims := range dir.DimensionSets {
			for _, m := range dir.Metrics {
				for _, v := range m.Values {
					out = append(out, Sample{Namespace: dir.Namespace, Name: m.Name, Unit: m.Unit, Dimensions: dims, Value: v})
				}
			}
		}
	}
	return out
}

// Parse reads one line of Embedded Metric Format and checks it against the specification
// (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html)
// and the limits CloudWatch puts on the metrics it extracts: one JSON object with no other
// data, a root member _aws holding an integer Timestamp and a CloudWatchMetrics array of
// directives, each with a Namespace, Dimensions (an array of dimension sets, each an array of at
// most 30 names of root members whose values are strings) and Metrics (at most 100 definitions,
// each naming a root member that is a number or an array of at most 100 numbers, with an
// optional Unit among Units and StorageResolution of 1 or 60). Objects the specification defines
// may hold no other members. The line may end with one newline, as Writer writes it.
func Parse(line []byte) (Document, error) {
	if len(line) > MaxLineBytes {
		return Document{}, fmt.Errorf("EMF line of %d bytes, want at most %d", len(line), MaxLineBytes)
	}
	root, err := members(bytes.TrimSuffix(line, []byte("\n")))
	if err != nil {
		return Document{}, fmt.Errorf("EMF root: %w", err)
	}
	raw, ok := root["_aws"]
	if !ok {
		return Document{}, errors.New("EMF root: no _aws member")
	}
	meta, err := members(raw)
	if err != nil {
		return Document{}, fmt.Errorf("EMF _aws: %w", err)
	}
	if err := only(meta, "Timestamp", "CloudWatchMetrics"); err != nil {
		return Document{}, fmt.Errorf("EMF _aws: %w", err)
	}
	var doc Document
	if doc.Timestamp, err = timestamp(meta["Timestamp"]); err != nil {
		return Document{}, fmt.Errorf("EMF _aws.Timestamp: %w", err)
	}
	dirs, err := array(meta["CloudWatchMetrics"])
	if err != nil || len(dirs) == 0 {
		return Document{}, fmt.Errorf("EMF _aws.CloudWatchMetrics: want a non-empty array of directives%s", because(err))
	}
	for i, d := range dirs {
		dir, err := parseDirective(d, root)
		if err != nil {
			return Document{}, fmt.Errorf("EMF _aws.CloudWatchMetrics[%d]: %w", i, err)
		}
		doc.Directives = append(doc.Directives, dir)
	}
	return doc, nil
}

// members reads a JSON object into its members, refusing anything else, trailing data and
// repeated names (which JSON leaves undefined, so that a reader may take either value).
func members(data []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("want a JSON object%s", because(err))
	}
	out := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name := tok.(string) // an object's tokens alternate name, value
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("member %q: %w", name, err)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("member %q appears twice", name)
		}
		out[name] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if rest := bytes.TrimSpace(data[dec.InputOffset():]); len(rest) > 0 {
		return nil, fmt.Errorf("data after the object: %.20q", rest)
	}
	return out, nil
}

// only refuses members other than the allowed ones, and reports a missing required one: every
// allowed member is required unless it is listed after "?".
func only(obj map[string]json.RawMessage, allowed ...string) error {
	optional := false
	for _, name := range allowed {
		if name == "?" {
			optional = true
			continue
		}
		if _, ok := obj[name]; !ok && !optional {
			return fmt.Errorf("no %s member", name)
		}
	}
	for name := range obj {
		if name == "?" || !slices.Contains(allowed, name) {
			return fmt.Errorf("member %q is not in the specification", name)
		}
	}
	return nil
}

// strict decodes data into v, refusing null (which encoding/json would take as a zero value).
func strict(data json.RawMessage, v any) error {
	if data == nil || bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		return errors.New("null or missing")
	}
	return json.Unmarshal(data, v)
}

// because is ": err", or nothing when err is nil, for a message that may have a cause.
func because(err error) string {
	if err == nil {
		return ""
	}
	return ": " + err.Error()
}

// array decodes a JSON array, refusing null for it and for its elements.
func array(data json.RawMessage) ([]json.RawMessage, error) {
	var elems []json.RawMessage
	if err := strict(data, &elems); err != nil {
		return nil, err
	}
	for i, e := range elems {
		if err := strict(e, new(any)); err != nil {
			return nil, fmt.Errorf("element %d: %w", i, err)
		}
	}
	return elems, nil
}

// timestamp reads milliseconds since the epoch: a JSON integer, not negative.
func timestamp(data json.RawMessage) (time.Time, error) {
	ms, err := strconv.ParseInt(string(bytes.TrimSpace(data)), 10, 64)
	if err != nil || ms < 0 {
		return time.Time{}, fmt.Errorf("%s: want an integer number of milliseconds since 1970", data)
	}
	return time.UnixMilli(ms), nil
}

// parseDirective checks one MetricDirective and resolves its references in root.
func parseDirective(data json.RawMessage, root map[string]json.RawMessage) (Directive, error) {
	obj, err := members(data)
	if err != nil {
		return Directive{}, err
	}
	if err := only(obj, "Namespace", "Dimensions", "Metrics"); err != nil {
		return Directive{}, err
	}
	var d Directive
	if err := strict(obj["Namespace"], &d.Namespace); err != nil {
		return Directive{}, fmt.Errorf("namespace: want a string%s", because(err))
	}
	if err := checkNamespace(d.Namespace); err != nil {
		return Directive{}, err
	}
	if d.DimensionSets, err = dimensionSets(obj["Dimensions"], root); err != nil {
		return Directive{}, fmt.Errorf("dimensions: %w", err)
	}
	defs, err := array(obj["Metrics"])
	if err != nil || len(defs) == 0 || len(defs) > MaxMetrics {
		return Directive{}, fmt.Errorf("metrics: want an array of 1 to %d definitions, got %d%s", MaxMetrics, len(defs), because(err))
	}
	seen := map[string]bool{}
	for i, def := range defs {
		m, err := parseMetric(def, root)
		if err != nil {
			return Directive{}, fmt.Errorf("metrics[%d]: %w", i, err)
		}
		if seen[m.Name] {
			return Directive{}, fmt.Errorf("metrics[%d]: %q is defined twice", i, m.Name)
		}
		seen[m.Name] = true
		d.Metrics = append(d.Metrics, m)
	}
	return d, nil
}

// dimensionSets checks a DimensionSet array: at least one set, each of at most MaxDimensions
// distinct names of root members whose values are strings.
func dimensionSets(data json.RawMessage, root map[string]json.RawMessage) ([][]Dimension, error) {
	raw, err := array(data)
	if err != nil || len(raw) == 0 {
		return nil, fmt.Errorf("want a non-empty array of dimension sets%s", because(err))
	}
	out := make([][]Dimension, 0, len(raw))
	for i, r := range raw {
		var set []string
		if err := strict(r, &set); err != nil {
			return nil, fmt.Errorf("set %d: want an array of strings%s", i, because(err))
		}
		if len(set) > MaxDimensions {
			return nil, fmt.Errorf("set %d has %d dimensions, want at most %d", i, len(set), MaxDimensions)
		}
		dims := make([]Dimension, 0, len(set))
		for _, name := range set {
			if err := checkText("dimension name", name, maxNameLen); err != nil {
				return nil, err
			}
			if slices.ContainsFunc(dims, func(d Dimension) bool { return d.Name == name }) {
				return nil, fmt.Errorf("set %d names %q twice", i, name)
			}
			var value string
			if err := strict(root[name], &value); err != nil {
				return nil, fmt.Errorf("dimension %q: want a root member whose value is a string%s", name, because(err))
			}
			if err := checkText(fmt.Sprintf("dimension %q value", name), value, maxValueLen); err != nil {
				return nil, err
			}
			dims = append(dims, Dimension{Name: name, Value: value})
		}
		out = append(out, dims)
	}
	return out, nil
}

// parseMetric checks a MetricDefinition and reads the values of the root member it names.
func parseMetric(data json.RawMessage, root map[string]json.RawMessage) (Values, error) {
	obj, err := members(data)
	if err != nil {
		return Values{}, err
	}
	if err := only(obj, "Name", "?", "Unit", "StorageResolution"); err != nil {
		return Values{}, err
	}
	m := Values{Unit: None, StorageResolution: 60}
	if err := strict(obj["Name"], &m.Name); err != nil {
		return Values{}, fmt.Errorf("name: want a string%s", because(err))
	}
	if err := checkText("metric name", m.Name, maxNameLen); err != nil {
		return Values{}, err
	}
	if raw, ok := obj["Unit"]; ok {
		if err := strict(raw, &m.Unit); err != nil || !Units[m.Unit] {
			return Values{}, fmt.Errorf("%s: Unit %s is not a CloudWatch unit%s", m.Name, raw, because(err))
		}
	}
	if raw, ok := obj["StorageResolution"]; ok {
		if err := strict(raw, &m.StorageResolution); err != nil || (m.StorageResolution != 1 && m.StorageResolution != 60) {
			return Values{}, fmt.Errorf("%s: StorageResolution %s, want 1 or 60", m.Name, raw)
		}
	}
	if m.Values, err = metricValues(root[m.Name]); err != nil {
		return Values{}, fmt.Errorf("%s: %w", m.Name, err)
	}
	return m, nil
}

// metricValues reads a metric's root member: a number or an array of 1 to MaxValues numbers.
func metricValues(data json.RawMessage) ([]float64, error) {
	if data == nil {
		return nil, errors.New("no root member of that name")
	}
	elems := []json.RawMessage{data}
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '[' {
		var err error
		if elems, err = array(data); err != nil || len(elems) == 0 || len(elems) > MaxValues {
			return nil, fmt.Errorf("value %.40s: want a number or an array of 1 to %d numbers%s", data, MaxValues, because(err))
		}
	}
	values := make([]float64, 0, len(elems))
	for _, e := range elems {
		var v float64
		if err := strict(e, &v); err != nil {
			return nil, fmt.Errorf("value %.40s: want a number%s", e, because(err))
		}
		if err := checkValue(v); err != nil {
			return nil, err
		}
		values = append(values, v)
	}
	return values, nil
}
