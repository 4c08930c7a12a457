#!/usr/bin/env bash
# browser-check.sh opens the HTML usage report in headless Chromium and fails when the page logs
# an error or warning, throws, requests anything besides itself, has fewer than six charts or
# lacks one of the dashboard's visuals (the daily cost trend and the failed and refused queries
# among them), an empty or zero-size chart, a cut-off chart label, sideways scrolling, or no
# title or headline.
# It saves a full-page screenshot and prints one line per check (test/browser/check.mjs).
#
# Usage:
#   scripts/browser-check.sh HTML_FILE [SCREENSHOT_PNG]   screenshot default: build/report.png
#   scripts/browser-check.sh --self-test                  every test/browser/fixtures/*.html must
#                                                         pass or fail as its "expect:" line says
#
# What it needs it installs when missing: Debian's chromium (apt-get, as root or through sudo) and
# test/browser/node_modules (npm ci, playwright-core at the version pinned in package-lock.json).
# No browser is ever downloaded by npm: playwright-core only drives /usr/bin/chromium.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=$root/test/browser
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
export CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

die() {
	echo "browser-check: $*" >&2
	exit 2
}

usage() {
	die "usage: scripts/browser-check.sh HTML_FILE [SCREENSHOT_PNG] | --self-test"
}

ensure_chromium() {
	[ -x "$CHROMIUM" ] && return
	[ "$CHROMIUM" = /usr/bin/chromium ] || die "no Chromium at $CHROMIUM"
	local sudo=
	if [ "$(id -u)" != 0 ]; then
		command -v sudo >/dev/null || die "chromium is missing and installing it needs root: apt-get install -y chromium"
		sudo=sudo
	fi
	echo "browser-check: installing chromium (apt-get)" >&2
	$sudo apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >&2
	[ -x "$CHROMIUM" ] || die "apt-get install chromium left no $CHROMIUM"
}

ensure_modules() {
	command -v node >/dev/null || die "node is missing (Node.js 20 or later is needed)"
	local major
	major=$(node -p 'process.versions.node.split(".")[0]')
	[ "$major" -ge 20 ] || die "node $(node --version) is too old: playwright-core needs Node.js 20 or later"
	local want have
	want=$(node -p 'require(process.argv[1]).packages["node_modules/playwright-core"].version' "$dir/package-lock.json")
	have=$(node -p 'try { require(process.argv[1]).version } catch { "" }' "$dir/node_modules/playwright-core/package.json")
	[ "$have" = "$want" ] && return
	echo "browser-check: installing playwright-core $want (npm ci in test/browser)" >&2
	(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2) || die "npm ci in test/browser failed"
}

start=$(date +%s%N)
finish() {
	echo "browser-check: $(( ($(date +%s%N) - start) / 1000000 )) ms in all" >&2
}

case "${1:-}" in
--self-test)
	[ $# = 1 ] || usage
	ensure_chromium
	ensure_modules
	trap finish EXIT
	node "$dir/check.mjs" --self-test "$dir/fixtures"
	;;
"" | -*)
	usage
	;;
*)
	[ $# -le 2 ] || usage
	[ -f "$1" ] || die "$1: no such file"
	ensure_chromium
	ensure_modules
	trap finish EXIT
	node "$dir/check.mjs" "$1" "${2:-$root/build/report.png}"
	;;
esac
