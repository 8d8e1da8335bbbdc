# gitml Kubernetes run entry (POSIX sh). Passed inline as `sh -c <this> gitml-entry NONCE
# MAX_BYTES SCRATCH -- ARGV...` so the image needs nothing from gitml but sh, tar and base64.
#
# Why: a Kubernetes Job has no archive API like Docker's, and we want no extra
# infrastructure (no artifact store, no sidecar) for ordinary runs. After the user's command
# exits, this prints the outputs folder (a tar, gzipped when gzip exists) and the metrics file
# base64-encoded between marker lines on stdout, so gitml reads them back from the pod log
# through the API. Markers carry a per-run nonce that gitml passes here as an argument (not
# an environment variable), so the program's own output cannot end the block by accident:
#
#   ::gitml:NONCE:begin NAME ENCODING BYTES
#   <base64 lines>
#   ::gitml:NONCE:end NAME
#   ::gitml:NONCE:toolarge NAME BYTES      (instead of a block, when over MAX_BYTES)
#   ::gitml:NONCE:exit CODE                (always last)
#
# The container exits with the program's exit code, so the Job succeeds or fails with it.
nonce=$1
max=$2
scratch=$3
shift 3
[ "$1" = "--" ] && shift

mkdir -p "$scratch" "$GITML_OUTPUTS" 2>/dev/null
mkdir -p "$(dirname "$GITML_METRICS")" 2>/dev/null

# Run the program as a child so a TERM from the kubelet (deadline, deletion) reaches it and
# the outputs written so far are still returned.
"$@" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null' TERM INT
wait "$child"
code=$?
if kill -0 "$child" 2>/dev/null; then
  wait "$child"
  code=$?
fi
trap - TERM INT

b64() {
  if command -v base64 >/dev/null 2>&1; then
    base64 "$1"
  else
    python3 -c 'import base64,sys; base64.encode(open(sys.argv[1],"rb"), sys.stdout.buffer)' "$1"
  fi
}

# emit NAME FILE ENCODING
emit() {
  size=$(wc -c <"$2" | tr -d ' ')
  if [ "$size" -gt "$max" ]; then
    echo "::gitml:$nonce:toolarge $1 $size"
  else
    echo "::gitml:$nonce:begin $1 $3 $size"
    b64 "$2"
    echo "::gitml:$nonce:end $1"
  fi
}

pack="$scratch/.gitml-outputs.tar"
if [ -d "$GITML_OUTPUTS" ] && tar -cf "$pack" -C "$GITML_OUTPUTS" . 2>/dev/null; then
  if command -v gzip >/dev/null 2>&1 && gzip -f "$pack" 2>/dev/null; then
    emit outputs "$pack.gz" tar.gz
  else
    emit outputs "$pack" tar
  fi
fi
if [ -f "$GITML_METRICS" ]; then
  mpack="$scratch/.gitml-metrics"
  if command -v gzip >/dev/null 2>&1 && gzip -c "$GITML_METRICS" >"$mpack.gz" 2>/dev/null; then
    emit metrics "$mpack.gz" gz
  else
    emit metrics "$GITML_METRICS" raw
  fi
fi
echo "::gitml:$nonce:exit $code"
exit "$code"
