package lambdaemu_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/athenausage/athena-usage/pkg/lambdaemu"
)

// Run a built function with its template's environment and invoke it once.
func ExampleStart() {
	ctx := context.Background()
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
		log.Fatal(err)
	}
	defer f.Close()

	res, err := f.Invoke(ctx, []byte(`{"day":"2024-05-01"}`))
	if err != nil {
		log.Fatal(err)
	}
	if res.FunctionError != "" {
		log.Fatalf("lookup failed: %s", res.Payload)
	}
	fmt.Printf("%s in %v (init %v)\n", res.Payload, res.Duration, res.InitDuration)
}
