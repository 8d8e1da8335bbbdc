#!/usr/bin/env bash
# Machine set-up for gitml's tests and CI, on Debian bookworm as root:
#   Debian packages (docker.io, debootstrap, docker-registry, busybox-static, openssh-server),
#   a Docker engine, the base images gitml/python:bookworm and gitml/tiny:latest,
#   a local registry on 127.0.0.1:5000, the Python venv <repo>/.venv, node_modules.
#
# Idempotent: every step first checks whether its result is already there, so a second run
# takes seconds. Run it alone (`bash .ci/setup.sh`) or through `bash .ci/run`, which sources
# it and then builds and tests. Sourcing it also exports the GITML_TEST_* variables.
#
# Nothing here names a package mirror: debootstrap uses the mirror that the machine's own apt
# sources name, read at run time.
#
# Environment knobs: GITML_SETUP_SKIP="venv npm" skips steps by name;
# GITML_LOG_DIR (default /var/log/gitml) holds dockerd.log, registry.log, setup-times.txt.

set -euo pipefail

GITML_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GITML_LOG_DIR="${GITML_LOG_DIR:-/var/log/gitml}"
GITML_BASE_IMAGE="${GITML_BASE_IMAGE:-gitml/python:bookworm}"
GITML_TINY_IMAGE="${GITML_TINY_IMAGE:-gitml/tiny:latest}"
# The front of Docker services in tests (a user's machine pulls the public haproxy image).
GITML_PROXY_IMAGE="${GITML_PROXY_IMAGE:-gitml/haproxy:local}"
GITML_REGISTRY_ADDR="${GITML_REGISTRY_ADDR:-127.0.0.1:5000}"
GITML_REGISTRY_DIR="${GITML_REGISTRY_DIR:-/var/lib/gitml-registry}"
GITML_BUILD_DIR="${GITML_BUILD_DIR:-/var/cache/gitml}"
export DEBIAN_FRONTEND=noninteractive

mkdir -p "$GITML_LOG_DIR"

log() { printf '[setup %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 3; }

# step NAME FUNCTION: runs FUNCTION unless NAME is in $GITML_SETUP_SKIP, and records how long
# it took in setup-times.txt (the README's set-up table comes from these figures).
step() {
  local name=$1 fn=$2 t0 t1
  if [[ " ${GITML_SETUP_SKIP:-} " == *" $name "* ]]; then log "$name: skipped (GITML_SETUP_SKIP)"; return 0; fi
  t0=$(date +%s.%N)
  "$fn"
  t1=$(date +%s.%N)
  local secs
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  printf '%-10s %6ss\n' "$name" "$secs" >> "$GITML_LOG_DIR/setup-times.txt"
  log "$name: done in ${secs}s"
}

# --- Debian packages ---------------------------------------------------------------------
setup_apt() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  command -v docker-registry >/dev/null || missing+=(docker-registry)
  command -v iptables >/dev/null || missing+=(iptables)
  [[ -x /bin/busybox ]] && file_is_static /bin/busybox || missing+=(busybox-static)
  command -v curl >/dev/null || missing+=(curl)
  [[ -x /usr/sbin/haproxy ]] || missing+=(haproxy)
  command -v ip >/dev/null || missing+=(iproute2)
  # sshd for the ssh-remote sync tests, which start their own on a loopback port
  # (test/support/git-servers.ts); nothing here starts the system's sshd.
  [[ -x /usr/sbin/sshd ]] || missing+=(openssh-server)
  python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
  if ((${#missing[@]} == 0)); then log "apt: everything installed"; return 0; fi
  log "apt: installing ${missing[*]}"
  apt-get update -q >"$GITML_LOG_DIR/apt.log" 2>&1 || { tail -20 "$GITML_LOG_DIR/apt.log" >&2; die "apt-get update failed"; }
  apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$GITML_LOG_DIR/apt.log" 2>&1 \
    || { tail -20 "$GITML_LOG_DIR/apt.log" >&2; die "apt-get install ${missing[*]} failed (log: $GITML_LOG_DIR/apt.log)"; }
}

# busybox (the dynamic one from the `busybox` package) would need its libraries in the tiny
# image; the static build needs nothing.
file_is_static() { ! ldd "$1" >/dev/null 2>&1; }

# --- Docker engine -----------------------------------------------------------------------
setup_engine() {
  if docker info >/dev/null 2>&1; then log "engine: already answering"; return 0; fi
  # A dockerd that died without cleaning up leaves its pid file, and a new one refuses to start
  # while that file names a live process (after a reboot, possibly an unrelated one). Other
  # dockerds (tests' second engines) have their own pid files and do not count.
  local pid=""
  [[ -f /var/run/docker.pid ]] && pid=$(cat /var/run/docker.pid 2>/dev/null || true)
  if [[ -n $pid && "$(cat "/proc/$pid/comm" 2>/dev/null)" == dockerd ]]; then
    log "engine: dockerd (pid $pid) is running but does not answer yet; waiting for it"
  else
    rm -f /var/run/docker.pid
    log "engine: starting dockerd (log: $GITML_LOG_DIR/dockerd.log)"
    # setsid: the engine outlives this script, so a developer's later test runs find it.
    setsid dockerd >>"$GITML_LOG_DIR/dockerd.log" 2>&1 </dev/null &
  fi
  local i
  for ((i = 0; i < 120; i++)); do
    docker info >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  tail -30 "$GITML_LOG_DIR/dockerd.log" >&2
  die "the Docker engine did not answer within 60 s (log: $GITML_LOG_DIR/dockerd.log)"
}

# --- Base images -------------------------------------------------------------------------
# The bookworm mirror named by this machine's apt sources: deb822 *.sources first, then
# one-line sources.list. Prints the URI of the first entry whose suites include "bookworm".
# $1: the apt configuration folder (tests pass their own).
debian_mirror() {
  local etc=${1:-/etc/apt} f found=""
  for f in "$etc"/sources.list.d/*.sources; do
    [[ -f $f ]] || continue
    # deb822 stanzas, separated by blank lines; field names are case-insensitive.
    found+=$(awk '
      function flush() {
        if (uri != "" && types ~ /(^| )deb( |$)/ && suites ~ /(^| )bookworm( |$)/ && enabled != "no") print uri
        uri = ""; suites = ""; types = ""; enabled = ""
      }
      /^[[:space:]]*#/ { next }
      /^[[:space:]]*$/ { flush(); next }
      { key = tolower($1) }
      key == "uris:" { uri = $2 }
      key == "types:" { $1 = ""; types = $0 " " }
      key == "suites:" { $1 = ""; suites = $0 " " }
      key == "enabled:" { enabled = tolower($2) }
      END { flush() }
    ' "$f")$'\n'
  done
  for f in "$etc"/sources.list "$etc"/sources.list.d/*.list; do
    [[ -f $f ]] || continue
    # deb [options] URI SUITE COMPONENTS...
    found+=$(sed -E 's/\[[^]]*\]//' "$f" | awk '$1 == "deb" && $3 == "bookworm" { print $2 }')$'\n'
  done
  found=$(grep -m1 . <<<"$found") || return 1
  printf '%s\n' "$found"
}

# What goes into the base image. The image carries this as a label; a machine whose image was
# built from another list rebuilds it.
GITML_BASE_PACKAGES="python3,python3-sklearn,python3-numpy,python3-pandas,python3-pip"

setup_python_image() {
  local have
  have=$(docker image inspect -f '{{ index .Config.Labels "gitml.base.packages" }}' "$GITML_BASE_IMAGE" 2>/dev/null || true)
  if [[ $have == "$GITML_BASE_PACKAGES" ]]; then log "python image: $GITML_BASE_IMAGE exists"; return 0; fi
  [[ -n $have ]] && log "python image: $GITML_BASE_IMAGE was built with other packages ($have): rebuilding"
  local mirror rootfs t0 t1
  mirror=$(debian_mirror /etc/apt) || die "no bookworm mirror found in /etc/apt/sources.list(.d)"
  rootfs="$GITML_BUILD_DIR/rootfs-python"
  rm -rf "$rootfs"
  mkdir -p "$GITML_BUILD_DIR"
  log "python image: debootstrap bookworm from the machine's mirror (log: $GITML_LOG_DIR/debootstrap.log)"
  t0=$(date +%s)
  debootstrap --variant=minbase --include="$GITML_BASE_PACKAGES" \
    bookworm "$rootfs" "$mirror" >"$GITML_LOG_DIR/debootstrap.log" 2>&1 \
    || { tail -20 "$GITML_LOG_DIR/debootstrap.log" >&2; die "debootstrap failed (log: $GITML_LOG_DIR/debootstrap.log)"; }
  t1=$(date +%s)
  printf '%-10s %6ss\n' debootstrap "$((t1 - t0))" >> "$GITML_LOG_DIR/setup-times.txt"
  # Downloaded .debs and the host's identity are no part of an image; apt lists are fetched
  # again by `apt-get update` in a Dockerfile, as with Debian's official images.
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/tmp/*
  : > "$rootfs/etc/resolv.conf"
  : > "$rootfs/etc/hostname"
  log "python image: docker import"
  tar --numeric-owner -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PYTHONUNBUFFERED=1' \
    --change 'LABEL org.opencontainers.image.description="Debian bookworm minbase with python3, scikit-learn, numpy, pandas, pip (built by gitml .ci/setup.sh)"' \
    --change "LABEL gitml.base.packages=$GITML_BASE_PACKAGES" \
    --change 'CMD ["python3"]' \
    - "$GITML_BASE_IMAGE" >/dev/null
  printf '%-10s %6ss\n' import "$(($(date +%s) - t1))" >> "$GITML_LOG_DIR/setup-times.txt"
  # Removing 1 GB of small files takes a minute on a busy machine: do it behind our back.
  mv "$rootfs" "$rootfs.old.$$"
  (rm -rf "$rootfs.old.$$" >/dev/null 2>&1 &)
  docker run --rm "$GITML_BASE_IMAGE" sh -c 'python3 -c "import sklearn, numpy, pandas" && python3 -m pip --version >/dev/null' \
    || die "$GITML_BASE_IMAGE was built but cannot import sklearn/numpy/pandas or run pip"
}

# A ~2 MB image for container tests that need no Python: the static busybox with its applet
# links, and a non-root user. Starts in well under a second.
setup_tiny_image() {
  if docker image inspect "$GITML_TINY_IMAGE" >/dev/null 2>&1; then log "tiny image: $GITML_TINY_IMAGE exists"; return 0; fi
  local rootfs="$GITML_BUILD_DIR/rootfs-tiny" applet
  rm -rf "$rootfs"
  mkdir -p "$rootfs"/{bin,etc,tmp,root,home/app,proc,sys,dev}
  cp /bin/busybox "$rootfs/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [[ $applet == busybox ]] || ln -s busybox "$rootfs/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$rootfs/etc/passwd"
  printf 'root:x:0:\napp:x:1000:\nnogroup:x:65534:\n' > "$rootfs/etc/group"
  chmod 1777 "$rootfs/tmp"
  chown 1000:1000 "$rootfs/home/app"
  tar --numeric-owner -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/bin' \
    --change 'CMD ["sh"]' \
    - "$GITML_TINY_IMAGE" >/dev/null
  rm -rf "$rootfs"
}

# The proxy in front of Docker services: Debian's haproxy binary and the libraries ldd lists,
# nothing else (no shell). Built in a second; a user's machine uses the public haproxy image.
setup_proxy_image() {
  if docker image inspect "$GITML_PROXY_IMAGE" >/dev/null 2>&1; then log "proxy image: $GITML_PROXY_IMAGE exists"; return 0; fi
  local rootfs="$GITML_BUILD_DIR/rootfs-haproxy" lib
  rm -rf "$rootfs"
  mkdir -p "$rootfs"/{usr/sbin,etc,tmp,gitml/proxy,proc,sys,dev}
  cp /usr/sbin/haproxy "$rootfs/usr/sbin/haproxy"
  for lib in $(ldd /usr/sbin/haproxy | grep -o '/[^ ]*'); do
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
  done
  printf 'root:x:0:0:root:/root:/bin/false\nhaproxy:x:1000:1000:haproxy:/tmp:/bin/false\n' > "$rootfs/etc/passwd"
  printf 'root:x:0:\nhaproxy:x:1000:\n' > "$rootfs/etc/group"
  chmod 1777 "$rootfs/tmp"
  tar --numeric-owner -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/usr/sbin' \
    --change 'USER 1000:1000' \
    --change 'ENTRYPOINT ["haproxy"]' \
    - "$GITML_PROXY_IMAGE" >/dev/null
  rm -rf "$rootfs"
}

# --- Local registry ----------------------------------------------------------------------
registry_answers() { curl -fsS -o /dev/null --max-time 2 "http://$GITML_REGISTRY_ADDR/v2/"; }

setup_registry() {
  if registry_answers 2>/dev/null; then log "registry: already answering on $GITML_REGISTRY_ADDR"; else
    mkdir -p "$GITML_REGISTRY_DIR/data"
    # Its own config, not /etc/docker/registry/config.yml: loopback only, no htpasswd.
    cat > "$GITML_REGISTRY_DIR/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $GITML_REGISTRY_DIR/data
  delete:
    enabled: true
http:
  addr: $GITML_REGISTRY_ADDR
EOF
    log "registry: starting on $GITML_REGISTRY_ADDR (log: $GITML_LOG_DIR/registry.log)"
    setsid docker-registry serve "$GITML_REGISTRY_DIR/config.yml" >>"$GITML_LOG_DIR/registry.log" 2>&1 </dev/null &
    local i
    for ((i = 0; i < 60; i++)); do registry_answers 2>/dev/null && break; sleep 0.5; done
    registry_answers || { tail -20 "$GITML_LOG_DIR/registry.log" >&2; die "the registry did not answer on $GITML_REGISTRY_ADDR within 30 s"; }
  fi
  # dockerd treats 127.0.0.0/8 registries as insecure (plain HTTP) by default: check that a
  # push really goes through, once per machine.
  if [[ ! -f $GITML_REGISTRY_DIR/push-checked ]] && docker image inspect "$GITML_TINY_IMAGE" >/dev/null 2>&1; then
    local ref="$GITML_REGISTRY_ADDR/gitml/setup-check:latest"
    docker tag "$GITML_TINY_IMAGE" "$ref"
    docker push -q "$ref" >/dev/null || die "docker push to the local registry $GITML_REGISTRY_ADDR failed"
    docker rmi -f "$ref" >/dev/null
    date -u +%FT%TZ > "$GITML_REGISTRY_DIR/push-checked"
  fi
}

# --- Python venv -------------------------------------------------------------------------
# scipy: the drift statistics are checked against it; mlflow and tritonclient: the scoring
# server is tested with the real clients; hypothesis + schemathesis: the OpenAPI fuzz test;
# moto[server]: an S3-compatible endpoint on loopback for the s3 artifact store.
GITML_VENV_PACKAGES=(scikit-learn pandas pyspark gto scipy mlflow 'tritonclient[http]' hypothesis schemathesis 'moto[server]')
venv_ok() { "$GITML_REPO/.venv/bin/python" -c 'import sklearn, pandas, pyspark, gto, scipy, mlflow, tritonclient.http, hypothesis, schemathesis, moto' >/dev/null 2>&1; }

setup_venv() {
  if venv_ok; then log "venv: .venv has ${GITML_VENV_PACKAGES[*]}"; return 0; fi
  [[ -x $GITML_REPO/.venv/bin/python ]] || python3 -m venv "$GITML_REPO/.venv" || die "python3 -m venv failed"
  log "venv: pip install ${GITML_VENV_PACKAGES[*]} (log: $GITML_LOG_DIR/pip.log)"
  "$GITML_REPO/.venv/bin/pip" install -q --disable-pip-version-check "${GITML_VENV_PACKAGES[@]}" \
    >"$GITML_LOG_DIR/pip.log" 2>&1 || { tail -20 "$GITML_LOG_DIR/pip.log" >&2; die "pip install failed"; }
  venv_ok || die ".venv was installed but cannot import one of ${GITML_VENV_PACKAGES[*]}"
}

# --- node_modules ------------------------------------------------------------------------
# True when every package that package-lock.json lists is in node_modules at its locked
# version (optional ones for other platforms may be absent). Checking this instead of always
# running `npm ci` keeps re-runs fast and never pulls node_modules from under a running test.
node_modules_ok() {
  (cd "$GITML_REPO" && node -e '
    const fs = require("fs");
    const lock = JSON.parse(fs.readFileSync("package-lock.json", "utf8"));
    for (const [p, meta] of Object.entries(lock.packages || {})) {
      if (!p || meta.link) continue;
      let v;
      try { v = JSON.parse(fs.readFileSync(p + "/package.json", "utf8")).version; } catch { if (meta.optional) continue; process.exit(1); }
      if (meta.version && v !== meta.version) process.exit(1);
    }
  ')
}

setup_npm() {
  if node_modules_ok; then log "npm: node_modules matches package-lock.json"; return 0; fi
  log "npm: npm ci --ignore-scripts"
  (cd "$GITML_REPO" && npm ci --ignore-scripts --no-audit --no-fund) || die "npm ci failed"
}

# --- Environment for the tests -----------------------------------------------------------
export GITML_TEST_REGISTRY="${GITML_TEST_REGISTRY:-$GITML_REGISTRY_ADDR}"
export GITML_TEST_BASE_IMAGE="${GITML_TEST_BASE_IMAGE:-$GITML_BASE_IMAGE}"
export GITML_TEST_TINY_IMAGE="${GITML_TEST_TINY_IMAGE:-$GITML_TINY_IMAGE}"
export GITML_TEST_PROXY_IMAGE="${GITML_TEST_PROXY_IMAGE:-$GITML_PROXY_IMAGE}"

# wait_step NAME PID: waits for a step started in the background, shows its output, and fails
# the set-up when it failed.
wait_step() {
  local status=0
  wait "$2" || status=$?
  cat "$GITML_LOG_DIR/$1.out" >&2
  ((status == 0)) || die "set-up step $1 failed (exit $status; output above and in $GITML_LOG_DIR/$1.out)"
}

gitml_setup() {
  local t0=$SECONDS
  : > "$GITML_LOG_DIR/setup-times.txt"
  step apt setup_apt
  step engine setup_engine
  # The venv and node_modules wait on PyPI and npm, the base image on Debian's mirror and dpkg:
  # on a new machine, doing them side by side saves a minute or two. Their output goes to
  # <step>.out and is shown when they finish.
  local venv_pid npm_pid
  (step venv setup_venv) >"$GITML_LOG_DIR/venv.out" 2>&1 &
  venv_pid=$!
  (step npm setup_npm) >"$GITML_LOG_DIR/npm.out" 2>&1 &
  npm_pid=$!
  step python-img setup_python_image
  step tiny-img setup_tiny_image
  step proxy-img setup_proxy_image
  step registry setup_registry
  wait_step venv "$venv_pid"
  wait_step npm "$npm_pid"
  log "set-up finished in $((SECONDS - t0))s; times in $GITML_LOG_DIR/setup-times.txt:"
  sed 's/^/    /' "$GITML_LOG_DIR/setup-times.txt" >&2
  if docker image inspect "$GITML_BASE_IMAGE" >/dev/null 2>&1; then
    log "$GITML_BASE_IMAGE: $(docker image inspect -f '{{.Size}}' "$GITML_BASE_IMAGE" | awk '{ printf "%.0f MB", $1 / 1e6 }')"
  fi
}

# Run when executed; only define (and export the variables) when sourced.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  gitml_setup
fi
