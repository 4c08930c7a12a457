#!/usr/bin/env bash
# minio.sh {build|start|stop|env}: a real S3 server (MinIO) for the S3 conformance tests in
# test/s3conformance. The binary lives in $TOOLS_BIN (default ~/.cache/athena-usage/bin, outside
# the work tree so that a fresh clone reuses it); its state under .cache/ in the repository.
#
#   scripts/minio.sh build   go install a pinned MinIO into $TOOLS_BIN/minio (skipped when present)
#   scripts/minio.sh start   start it on 127.0.0.1:<free port>, wait until ready, write .cache/minio.env
#   scripts/minio.sh stop    stop it by PID and remove its data directory
#   scripts/minio.sh env     print the export lines for the tests (after start)
#
# Typical use:
#   scripts/minio.sh build && scripts/minio.sh start
#   eval "$(scripts/minio.sh env)" && go test -tags integration ./test/s3conformance/
#   scripts/minio.sh stop
set -euo pipefail

# MinIO publishes no semver tags, so the Go module proxy serves it only under pseudo-versions.
# This one is the last commit of the (now source-only) repository, 2026-02-12; it builds with Go 1.26.
MINIO_MODULE=github.com/minio/minio
MINIO_VERSION=${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=$ROOT/.cache
TOOLS_BIN=${TOOLS_BIN:-$HOME/.cache/athena-usage/bin}
BIN=$TOOLS_BIN/minio
ENV_FILE=$CACHE/minio.env
LOG_FILE=$CACHE/minio.log
GO=${GO:-go}

# Fixed credentials: the server only listens on 127.0.0.1 and lives for one test run.
ROOT_USER=${MINIO_ROOT_USER:-athenausage}
ROOT_PASSWORD=${MINIO_ROOT_PASSWORD:-athenausage-secret}

die() { echo "minio.sh: $*" >&2; exit 1; }

# built_version prints the module version recorded in the binary's build info, or nothing.
built_version() {
	[[ -x $BIN ]] || return 0
	"$GO" version -m "$BIN" 2>/dev/null | awk -v m="$MINIO_MODULE" '$1 == "mod" && $2 == m {print $3}'
}

cmd_build() {
	local have
	have=$(built_version)
	if [[ $have == "$MINIO_VERSION" ]]; then
		echo "minio.sh: $BIN is already $MINIO_VERSION"
		return 0
	fi
	mkdir -p "$TOOLS_BIN" "$CACHE"
	echo "minio.sh: building $MINIO_MODULE@$MINIO_VERSION into $BIN (several minutes on 2 cores)"
	local start=$SECONDS
	# go install pkg@version ignores the current module, so run it outside the repository to be sure.
	(cd "$CACHE" && GOBIN="$TOOLS_BIN" "$GO" install "$MINIO_MODULE@$MINIO_VERSION")
	have=$(built_version)
	[[ $have == "$MINIO_VERSION" ]] || die "built $BIN reports version '${have:-none}', want $MINIO_VERSION"
	echo "minio.sh: built $MINIO_VERSION in $((SECONDS - start))s"
}

# free_port asks the kernel for an unused TCP port on 127.0.0.1.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()' 2>/dev/null && return 0
	# Without python3, try random high ports until one is not listening.
	local p
	for _ in $(seq 50); do
		p=$((20000 + RANDOM % 20000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	die "no free port found"
}

cmd_start() {
	[[ -x $BIN ]] || die "$BIN not found; run scripts/minio.sh build first"
	if [[ -f $ENV_FILE ]]; then
		# shellcheck disable=SC1090
		source "$ENV_FILE"
		if [[ -n ${MINIO_PID:-} ]] && kill -0 "$MINIO_PID" 2>/dev/null; then
			echo "minio.sh: already running (pid $MINIO_PID)"
			echo "MINIO_ENDPOINT=$MINIO_ENDPOINT"
			return 0
		fi
		rm -f "$ENV_FILE"
	fi
	local port console data pid endpoint start=$SECONDS
	mkdir -p "$CACHE"
	port=$(free_port)
	console=$(free_port)
	data=$(mktemp -d "${TMPDIR:-/tmp}/minio-data.XXXXXX")
	endpoint=http://127.0.0.1:$port
	MINIO_ROOT_USER=$ROOT_USER MINIO_ROOT_PASSWORD=$ROOT_PASSWORD \
		MINIO_BROWSER=off MINIO_UPDATE=off MINIO_CI_CD=on \
		nohup "$BIN" server --quiet --address "127.0.0.1:$port" --console-address "127.0.0.1:$console" "$data" \
		>"$LOG_FILE" 2>&1 &
	pid=$!
	# Ready means the server answers its readiness probe; give it 30 s, far above the usual second.
	for _ in $(seq 300); do
		if ! kill -0 "$pid" 2>/dev/null; then
			rm -rf "$data"
			die "minio exited during start-up; see $LOG_FILE: $(tail -5 "$LOG_FILE")"
		fi
		if curl -fsS -o /dev/null "$endpoint/minio/health/ready" 2>/dev/null; then
			cat >"$ENV_FILE" <<EOF
MINIO_PID=$pid
MINIO_DATA_DIR=$data
MINIO_ENDPOINT=$endpoint
MINIO_ACCESS_KEY=$ROOT_USER
MINIO_SECRET_KEY=$ROOT_PASSWORD
EOF
			echo "minio.sh: ready in $((SECONDS - start))s (pid $pid, data $data, log $LOG_FILE)" >&2
			echo "MINIO_ENDPOINT=$endpoint"
			return 0
		fi
		sleep 0.1
	done
	kill "$pid" 2>/dev/null || true
	rm -rf "$data"
	die "minio not ready after 30s; see $LOG_FILE"
}

cmd_stop() {
	[[ -f $ENV_FILE ]] || { echo "minio.sh: not running (no $ENV_FILE)"; return 0; }
	# shellcheck disable=SC1090
	source "$ENV_FILE"
	if [[ -n ${MINIO_PID:-} ]] && kill -0 "$MINIO_PID" 2>/dev/null; then
		kill "$MINIO_PID"
		for _ in $(seq 100); do
			kill -0 "$MINIO_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$MINIO_PID" 2>/dev/null && kill -9 "$MINIO_PID"
	fi
	# Only remove what start created: a directory named by mktemp's template.
	if [[ -n ${MINIO_DATA_DIR:-} && $(basename "$MINIO_DATA_DIR") == minio-data.* ]]; then
		rm -rf "$MINIO_DATA_DIR"
	fi
	rm -f "$ENV_FILE"
	echo "minio.sh: stopped (pid ${MINIO_PID:-?})"
}

cmd_env() {
	[[ -f $ENV_FILE ]] || die "not running (no $ENV_FILE); run scripts/minio.sh start"
	grep -E '^MINIO_(ENDPOINT|ACCESS_KEY|SECRET_KEY)=' "$ENV_FILE" | sed 's/^/export /'
}

case ${1:-} in
build) cmd_build ;;
start) cmd_start ;;
stop) cmd_stop ;;
env) cmd_env ;;
*) die "usage: $0 {build|start|stop|env}" ;;
esac
