package lambdaemu_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/athenausage/athena-usage/test/internal/lambdaemu"
)

// Run a built function with its template's environment and invoke it once.
func ExampleStart() {
	if err := invokeOnce(context.Background()); err != nil {
		log.Fatal(err)
	}
}

// invokeOnce holds the work so that its deferred Close runs before ExampleStart exits.
func invokeOnce(ctx context.Context) (err error) {
	f, err := lambdaemu.Start(ctx, lambdaemu.Config{
		Binary:       ".aws-sam/build/LookupFunction/bootstrap",
		FunctionName: "lookup",
		Env:          map[string]string{"DATA_BUCKET": "usage-data", "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9000"},
		Timeout:      60 * time.Second,
		MemoryMB:     512,
		Stdout:       os.Stdout,
		Stderr:       os.Stderr,
	})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, f.Close()) }()

	res, err := f.Invoke(ctx, []byte(`{"day":"2024-05-01"}`))
	if err != nil {
		return err
	}
	if res.FunctionError != "" {
		return fmt.Errorf("lookup failed: %s", res.Payload)
	}
	fmt.Printf("%s in %v (init %v)\n", res.Payload, res.Duration, res.InitDuration)
	return nil
}
