package lambdait

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/athenausage/athena-usage/local/pipeline"
	"github.com/athenausage/athena-usage/pkg/athenasql"
	"github.com/athenausage/athena-usage/pkg/config"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// alertResult is the alert function's success payload (alert.Result).
type alertResult struct {
	Day   string `json:"day"`
	Check string `json:"check"`
	State string `json:"state"`
	Fresh bool   `json:"fresh"`
}

// TestLookupHandsDayToAlert runs the day of events/extract-day.json through the three binaries
// as Lambda would: the lookup, once the day is complete, invokes the alert binary, which finds
// no user over the rules in the synthetic day. Then the alert binary's freshness check, on the
// schedule's event of events/alert-freshness.json, finds that day complete and writes DataFresh
// 1 as an EMF line; and events/alert-day.json checks the day's users again.
func TestLookupHandsDayToAlert(t *testing.T) {
	w := sharedWorld(t)
	logOnFailure(t, w.extract, w.lookup, w.alert)
	from := len(w.alert.out.String())
	// Without the day's manifest the extract hands the day to the lookup again.
	manifest := athenasql.LookupManifestKey(w.fns[extractID].Env[config.EnvDataPrefix], w.day)
	if _, err := w.stack.S3.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(pipeline.DataBucket), Key: aws.String(manifest)}); err != nil {
		t.Fatal(err)
	}
	if res := invoke(t, w.extract, readEvent(t, "extract-day.json")); res.FunctionError != "" {
		t.Fatalf("extract failed: %s", res.Payload)
	}
	ctx, cancel := context.WithTimeout(context.Background(), lookupWait)
	defer cancel()
	if err := w.alert.out.waitForFrom(ctx, "no user over the alert rules", from); err != nil {
		t.Fatalf("the alert function after the lookup: %v", err)
	}

	for _, tt := range []struct{ file, check, output string }{
		{"alert-freshness.json", "freshness", `"DataFresh":1`},
		{"alert-day.json", "alerts", "no user over the alert rules"},
	} {
		from := len(w.alert.out.String())
		res := invoke(t, w.alert, readEvent(t, tt.file))
		var got alertResult
		if res.FunctionError != "" || json.Unmarshal(res.Payload, &got) != nil {
			t.Fatalf("alert(%s) = %s, %q", tt.file, res.Payload, res.FunctionError)
		}
		if got.Day != w.day.Format(config.DayLayout) || got.Check != tt.check || (tt.check == "freshness" && (!got.Fresh || got.State != "complete")) {
			t.Errorf("alert(%s) = %s, want the %s check of %s, complete", tt.file, res.Payload, tt.check, w.day.Format(config.DayLayout))
		}
		// The emulator copies the output as the process writes it, which may be after the
		// invocation's result.
		if err := w.alert.out.waitForFrom(ctx, tt.output, from); err != nil {
			t.Errorf("alert(%s): %v", tt.file, err)
		}
	}
}

// readEvent reads events/name.
func readEvent(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(moduleRoot, "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
