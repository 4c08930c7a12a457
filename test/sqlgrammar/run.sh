#!/usr/bin/env bash
# run.sh checks every SQL statement athena-usage sends to Athena against real grammars
# (`make sql-grammar`): it renders each statement for several configurations
# (`go run ./test/sqlgrammar`, which fails when an embedded .sql file is never rendered), parses
# each with dt-sql-parser's Trino or Hive grammar (check.mjs), then runs check.mjs's self-test,
# which proves on broken fixtures that a statement that does not parse fails the check.
#
# What it needs it installs when missing: test/sqlgrammar/node_modules (npm ci, dt-sql-parser at
# the version pinned in package-lock.json). The statements are left in
# build/sql-grammar/statements.json for a look at what was checked.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
dir=$root/test/sqlgrammar
out=$root/build/sql-grammar/statements.json
GO=${GO:-go}

die() {
	echo "sql-grammar: $*" >&2
	exit 2
}

ensure_modules() {
	command -v node >/dev/null || die "node is missing (Node.js 20.6 or later is needed)"
	# check.mjs loads dt-sql-parser through module.register, which Node.js 20.6 added.
	node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 6) ? 0 : 1)' ||
		die "node $(node --version) is too old: check.mjs needs Node.js 20.6 or later"
	local want have
	want=$(node -p 'require(process.argv[1]).packages["node_modules/dt-sql-parser"].version' "$dir/package-lock.json")
	have=$(node -p 'try { require(process.argv[1]).version } catch { "" }' "$dir/node_modules/dt-sql-parser/package.json")
	[ "$have" = "$want" ] && return
	echo "sql-grammar: installing dt-sql-parser $want (npm ci in test/sqlgrammar)" >&2
	(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2) || die "npm ci in test/sqlgrammar failed"
}

start=$(date +%s%N)
finish() {
	echo "sql-grammar: $(( ($(date +%s%N) - start) / 1000000 )) ms in all" >&2
}
trap finish EXIT

[ $# = 0 ] || die "usage: test/sqlgrammar/run.sh (no arguments)"
ensure_modules
mkdir -p "$(dirname "$out")"
(cd "$root" && "$GO" run ./test/sqlgrammar -out "$out")
node "$dir/check.mjs" "$out"
node "$dir/check.mjs" --self-test "$dir/fixtures"
