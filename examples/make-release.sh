#!/bin/sh
# Build a release tarball of the example service.
#   examples/make-release.sh VERSION OUT.tar.gz [--broken] [--pad KB]
#                            [--error-rate F] [--latency-ms MS] [--rps N]
# The tarball's root holds bin/*, VERSION (containing VERSION), BROKEN with
# --broken (the service then fails /healthz), and pad.bin with --pad: about KB
# kilobytes of incompressible bytes, so benchmarks can move realistic sizes.
# --error-rate, --latency-ms and --rps write the files ERROR_RATE (share of
# /work requests that answer 500), LATENCY_MS (delay added to /work) and RPS
# (the service's own traffic, requests/s): a release that passes /healthz but
# is bad in its metrics.
# Same arguments => byte-identical tarball (sorted, fixed owner/mtime, gzip -n,
# seeded padding), which keeps artifact digests stable across runs.
set -eu

usage() {
  echo "usage: $0 VERSION OUT.tar.gz [--broken] [--pad KB] [--error-rate F] [--latency-ms MS] [--rps N]" >&2
  exit 2
}
[ $# -ge 2 ] || usage
version=$1 out=$2
shift 2
broken=0 pad=0 error_rate='' latency_ms='' rps=''
while [ $# -gt 0 ]; do
  case $1 in
    --broken) broken=1 ;;
    --pad) [ $# -ge 2 ] || usage; pad=$2; shift ;;
    --error-rate) [ $# -ge 2 ] || usage; error_rate=$2; shift ;;
    --latency-ms) [ $# -ge 2 ] || usage; latency_ms=$2; shift ;;
    --rps) [ $# -ge 2 ] || usage; rps=$2; shift ;;
    *) usage ;;
  esac
  shift
done
case $version in '' | */* | .*) echo "bad VERSION '$version'" >&2; exit 2 ;; esac
case $pad in '' | *[!0-9]*) echo "bad --pad '$pad' (kilobytes)" >&2; exit 2 ;; esac
case $error_rate in
  '' | 0 | 1 | 1.0 | 0.[0-9]*) ;;
  *) echo "bad --error-rate '$error_rate' (a fraction, 0 to 1)" >&2; exit 2 ;;
esac
case $error_rate in 0.*[!0-9]*) echo "bad --error-rate '$error_rate' (a fraction, 0 to 1)" >&2; exit 2 ;; esac
case $latency_ms in *[!0-9]*) echo "bad --latency-ms '$latency_ms' (milliseconds)" >&2; exit 2 ;; esac
case $rps in *[!0-9]*) echo "bad --rps '$rps' (requests per second)" >&2; exit 2 ;; esac

src=$(cd "$(dirname "$0")/service" && pwd -P)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

# Copy the template and force sane modes whatever the checkout's umask was.
mkdir "$stage/bin"
cp "$src"/bin/* "$stage/bin/"
printf '%s\n' "$version" >"$stage/VERSION"
entries="VERSION bin"
if [ "$broken" = 1 ]; then : >"$stage/BROKEN"; entries="BROKEN $entries"; fi
# Failure injection and traffic, read by bin/service per request (see examples/README.md).
for setting in ERROR_RATE:$error_rate LATENCY_MS:$latency_ms RPS:$rps; do
  name=${setting%%:*} value=${setting#*:}
  [ -n "$value" ] || continue
  printf '%s\n' "$value" >"$stage/$name"
  entries="$entries $name"
done
if [ "$pad" -gt 0 ]; then
  # Seeded PRNG, not /dev/urandom: incompressible yet reproducible.
  python3 -c 'import random, sys; sys.stdout.buffer.write(random.Random(sys.argv[1]).randbytes(int(sys.argv[2]) * 1024))' \
    "$version" "$pad" >"$stage/pad.bin"
  entries="$entries pad.bin"
fi
chmod 0755 "$stage" "$stage/bin" "$stage"/bin/*
find "$stage" -type f ! -path "$stage/bin/*" -exec chmod 0644 {} +

mkdir -p "$(dirname "$out")"
# shellcheck disable=SC2086  # $entries is a list of plain names
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 --format=gnu \
  -C "$stage" -cf - $entries | gzip -n -9 >"$out.tmp"
mv -f "$out.tmp" "$out"
note=
[ "$broken" = 1 ] && note=" (BROKEN)"
[ "$pad" -gt 0 ] && note="$note +${pad}KB pad"
[ -n "$error_rate" ] && note="$note error rate $error_rate"
[ -n "$latency_ms" ] && note="$note +${latency_ms}ms latency"
[ -n "$rps" ] && note="$note ${rps} requests/s"
echo "$out: version $version$note"
