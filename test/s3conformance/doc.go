// Package s3conformance holds tests, and only tests, that run the pipeline's S3 paths (streamed
// multipart uploads through the transfer manager, ranged reads, paginated listing, batch
// deletes, and the lookup handler end to end) against each S3 implementation it meets: the
// embedded stand-in (package s3server) always, and a real S3 server (MinIO) when the tests are
// built with the integration tag and MINIO_ENDPOINT is set. One table of targets runs the same
// code against both, so the stand-in cannot drift from real S3 unnoticed.
//
//	scripts/minio.sh build && scripts/minio.sh start
//	eval "$(scripts/minio.sh env)"
//	go test -tags integration ./test/s3conformance/
//	scripts/minio.sh stop
package s3conformance
