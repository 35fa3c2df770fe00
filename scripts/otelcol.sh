#!/usr/bin/env bash
# Builds the OpenTelemetry Collector of deploy/otelcol/builder.yaml with the
# collector's builder (ocb) from the Go module proxy, once per version of
# the manifest, and prints the binary's path. The OTLP exporter's tests
# (internal/export/otlp) and bench/otlp.sh send to it; they find it through
# KSCOPE_OTELCOL or this cache path.
#
#   bash scripts/otelcol.sh    # 3 to 8 minutes the first time (2 CPUs)
#
# Cache: ${XDG_CACHE_HOME:-$HOME/.cache}/kscope/otelcol-<the manifest's
# SHA-256, 16 hex digits>/otelcol-kscope.
set -euo pipefail
cd "$(dirname "$0")/.."
manifest=deploy/otelcol/builder.yaml
# The builder's release, the one of every collector module, is the
# manifest's "# builder:" line.
builder_version="$(sed -n 's/^# builder: *//p' "$manifest")"
hash="$(sha256sum "$manifest" | cut -c1-16)"
dir="${XDG_CACHE_HOME:-$HOME/.cache}/kscope/otelcol-$hash"
bin="$dir/otelcol-kscope"
if [ ! -x "$bin" ]; then
	tmp="$dir.tmp.$$"
	rm -rf "$tmp"
	mkdir -p "$tmp"
	trap 'rm -rf "$tmp"' EXIT
	echo "otelcol: building the collector of $manifest into $dir" >&2
	GOBIN="$tmp/bin" GOFLAGS=-buildvcs=false go install "go.opentelemetry.io/collector/cmd/builder@$builder_version" >&2
	(cd "$tmp" && GOFLAGS=-buildvcs=false ./bin/builder --config="$OLDPWD/$manifest" >"$tmp/builder.log" 2>&1) || {
		cat "$tmp/builder.log" >&2
		exit 1
	}
	mkdir -p "$dir"
	mv "$tmp/build/otelcol-kscope" "$bin"
fi
echo "$bin"
