package lambdaemu

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"time"
)

// Credentials a local function gets unless Config.Env sets its own. They are
// deliberately fake: a local run must never reach a real account by picking
// up the caller's credentials.
const (
	localAccessKeyID     = "AKIALAMBDAEMULOCAL00"
	localSecretAccessKey = "lambdaemu-local-secret-access-key"
	localSessionToken    = "lambdaemu-local-session-token"
)

// baseEnv is the environment Lambda gives a provided-runtime function,
// overridden by cfg.Env; AWS_LAMBDA_RUNTIME_API and the log stream name are
// added per process.
func baseEnv(cfg Config, binary string) map[string]string {
	region := cfg.Env["AWS_REGION"]
	if region == "" {
		region = DefaultRegion
	}
	env := map[string]string{
		"_HANDLER":                        filepath.Base(binary),
		"AWS_REGION":                      region,
		"AWS_DEFAULT_REGION":              region,
		"AWS_LAMBDA_FUNCTION_NAME":        cfg.FunctionName,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.Itoa(cfg.MemoryMB),
		"AWS_LAMBDA_FUNCTION_VERSION":     version,
		"AWS_LAMBDA_INITIALIZATION_TYPE":  "on-demand",
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/" + cfg.FunctionName,
		"AWS_ACCESS_KEY_ID":               localAccessKeyID,
		"AWS_SECRET_ACCESS_KEY":           localSecretAccessKey,
		"AWS_SESSION_TOKEN":               localSessionToken,
		// Lambda runs the function from /var/task; locally that is the binary's directory.
		"LAMBDA_TASK_ROOT":   filepath.Dir(binary),
		"LAMBDA_RUNTIME_DIR": filepath.Dir(binary),
		"TZ":                 ":UTC",
		"LANG":               "en_US.UTF-8",
		"PATH":               "/usr/local/bin:/usr/bin/:/bin:/opt/bin",
	}
	if cfg.LogFormat == "JSON" {
		env["AWS_LAMBDA_LOG_FORMAT"] = "JSON"
		env["AWS_LAMBDA_LOG_LEVEL"] = cmp.Or(cfg.LogLevel, "INFO")
	}
	for k, v := range cfg.Env {
		env[k] = v
	}
	return env
}

// environ turns env into exec.Cmd's form, sorted so runs are reproducible.
func environ(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for _, k := range sortedKeys(env) {
		out = append(out, k+"="+env[k])
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// newRequestID returns a random (version 4) UUID, the form Lambda's request IDs take.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// newTraceID returns an X-Ray trace header for an unsampled trace.
func newTraceID() string {
	return fmt.Sprintf("Root=1-%08x-%s;Parent=%s;Sampled=0", time.Now().Unix(), randomHex(12), randomHex(8))
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}
