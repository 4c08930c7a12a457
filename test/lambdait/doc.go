// Package lambdait runs the real Lambda binaries (functions/extract and functions/lookup, built
// as the Makefile builds them but for this machine) in the Lambda Runtime API emulator
// (package lambdaemu) against the local S3 and Athena stand-ins (package pipeline), with the
// environment that template.yaml gives them. It holds tests only.
package lambdait
