#!/usr/bin/env bash
# Builds the Elasticsearch launcher into OUTDIR/lib (launcher jar + runtime classpath from Maven
# Central). Idempotent: a stamp named after a hash of the sources makes a rebuild a no-op.
set -euo pipefail
out="${1:?usage: build.sh OUTDIR}"
here="$(cd "$(dirname "$0")" && pwd)"
hash="$(cd "$here" && cat pom.xml $(find src -type f | sort) | sha256sum | cut -c1-16)"
stamp="$out/.built-$hash"
[ -f "$stamp" ] && exit 0

echo "[stack] elasticsearch: building the launcher (Maven Central artifacts, cached in ~/.m2)" >&2
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -r "$here/pom.xml" "$here/src" "$work/"
if ! mvn -q -B -f "$work/pom.xml" package dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$work/target/lib" >"$work/build.log" 2>&1; then
  tail -n 40 "$work/build.log" >&2
  echo "[stack] ERROR: elasticsearch: Maven build of the launcher failed" >&2
  exit 1
fi
rm -rf "$out"
mkdir -p "$out/lib"
cp "$work"/target/lib/*.jar "$out/lib/"
cp "$work"/target/lethe-es-launcher-*.jar "$out/lib/"
touch "$stamp"
