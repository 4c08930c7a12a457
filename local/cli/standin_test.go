package cli

import (
	"testing"
	"time"

	"github.com/athenausage/athena-usage/local/athenaserver"
	"github.com/spf13/pflag"
)

func TestParseLatency(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    athenaserver.Latency
		wantErr bool
	}{
		{in: "100ms", want: athenaserver.Latency{Min: 100 * time.Millisecond}},
		{in: "50ms-150ms", want: athenaserver.Latency{Min: 50 * time.Millisecond, Max: 150 * time.Millisecond}},
		{in: "150ms-50ms", wantErr: true},
		{in: "fast", wantErr: true},
	} {
		got, err := parseLatency(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseLatency(%q) = %+v, %v, want %+v (error %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestStandInFlags(t *testing.T) {
	var s standIn
	f := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	s.register(f)
	if err := f.Parse([]string{"--batchget-quota", "200", "--throttle-rate", "0.1", "--unprocessed-rate", "0.05",
		"--server-error-rate", "0.01", "--latency", "50ms-150ms"}); err != nil {
		t.Fatal(err)
	}
	o, err := s.options()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := o.Quotas[athenaserver.OpBatchGetQueryExecution], (athenaserver.Quota{Rate: 200, Burst: 400}); got != want {
		t.Errorf("options() BatchGet quota = %+v, want %+v", got, want)
	}
	if o.Faults.Throttle != 0.1 || o.Faults.Unprocessed != 0.05 || o.Faults.ServerError != 0.01 {
		t.Errorf("options() faults = %+v, want throttle 0.1, unprocessed 0.05, server errors 0.01", o.Faults)
	}
	if got, want := o.Latency[""], (athenaserver.Latency{Min: 50 * time.Millisecond, Max: 150 * time.Millisecond}); got != want {
		t.Errorf("options() latency = %+v, want %+v", got, want)
	}
	s.throttle = 2
	if _, err := s.options(); err == nil {
		t.Errorf("options() with --throttle-rate 2 = nil error, want one")
	}
}
