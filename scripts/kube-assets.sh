#!/usr/bin/env bash
# Provides etcd, kube-apiserver, kube-controller-manager and kube-scheduler (Kubernetes v1.20.2) for the
# envtest-style tests, built from Debian 12's own source package, because no upstream binaries can be
# downloaded here. The result is cached outside git; the last line of stdout is the assets directory:
#
#   export KUBEBUILDER_ASSETS=$(bash scripts/kube-assets.sh | tail -1)
#
# Idempotent: with a complete cache it prints the path and exits at once. After a partial failure, re-running
# resumes in the same build directory (make is incremental); after success the build directory is removed
# unless KEEP_KUBE_BUILD=1. Needs root (apt-get). Progress goes to stderr.
set -euo pipefail

readonly K8S_VERSION=1.20.2
readonly CACHE_ROOT="${SYLLABUS_CACHE:-$HOME/.cache/syllabus}"
readonly ASSETS_DIR="$CACHE_ROOT/kube-assets/v$K8S_VERSION"
readonly BUILD_DIR="$CACHE_ROOT/kube-assets/build-v$K8S_VERSION"
readonly BINARIES=(etcd kube-apiserver kube-controller-manager kube-scheduler)
readonly GO_BIN=/usr/lib/go-1.19/bin
readonly REFLECT2_SRC=/usr/share/gocode/src/github.com/modern-go/reflect2

log() { printf '[kube-assets] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

have_all() {
  local b
  for b in "${BINARIES[@]}"; do [[ -x "$ASSETS_DIR/$b" ]] || return 1; done
}

if have_all; then
  echo "$ASSETS_DIR"
  exit 0
fi

[[ $(id -u) -eq 0 ]] || die "must run as root (installs Debian packages with apt-get)"
# shellcheck source=/dev/null
. /etc/os-release
[[ "${ID:-}" == debian ]] || die "this recipe targets Debian (found ID=${ID:-unknown})"
readonly CODENAME="${VERSION_CODENAME:?VERSION_CODENAME missing in /etc/os-release}"

export DEBIAN_FRONTEND=noninteractive

# Adds a deb-src entry for $CODENAME that reuses the mirror (and its Signed-By key) the machine already uses,
# never a hard-coded host. apt rejects a second entry for the same mirror with a different Signed-By.
ensure_deb_src() {
  local legacy=/etc/apt/sources.list.d/syllabus-deb-src.list modern=/etc/apt/sources.list.d/syllabus-deb-src.sources
  if [[ -f $legacy || -f $modern ]]; then return 0; fi
  local f stanza
  # deb822 files: the stanza whose suites include the release codename itself.
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f && $f != "$modern" ]] || continue
    stanza=$(awk -v c="$CODENAME" '
      function flush() { if (uri != "" && hit) { print "URIs: " uri; if (key != "") print "Signed-By: " key; done=1 } uri=""; key=""; hit=0 }
      done { exit }
      /^[[:space:]]*$/ { flush(); next }
      tolower($1) == "uris:" { uri=$2 }
      tolower($1) == "signed-by:" { key=$2 }
      tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == c) hit=1 }
      END { if (!done) flush() }' "$f")
    if [[ -n $stanza ]]; then
      log "adding deb-src for $CODENAME from $f"
      printf 'Types: deb-src\n%s\nSuites: %s\nComponents: main\n' "$stanza" "$CODENAME" > "$modern"
      return 0
    fi
  done
  # One-line format: "deb [opts] URI codename components" becomes the same line with deb-src.
  local line
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f $f ]] || continue
    line=$(awk -v c="$CODENAME" '
      $1 == "deb" { i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ } if ($(i+1) == c) { $1 = "deb-src"; print; exit } }' "$f")
    if [[ -n $line ]]; then
      log "adding '$line'"
      echo "$line" > "$legacy"
      return 0
    fi
  done
  die "could not find the Debian mirror for $CODENAME in /etc/apt/sources.list*"
}

ensure_packages() {
  local pkgs=(etcd-server etcd-client golang-1.19 rsync openssl dpkg-dev golang-github-modern-go-reflect2-dev)
  local missing=() p
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  ensure_deb_src
  log "apt-get update"
  apt-get update -qq >&2
  if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  fi
}

fetch_source() {
  mkdir -p "$BUILD_DIR"
  local existing
  existing=$(find "$BUILD_DIR" -maxdepth 1 -type d -name 'kubernetes-*' | head -1)
  if [[ -n $existing && -f $existing/Makefile ]]; then
    log "reusing source tree $existing"
    SRC_DIR=$existing
    return 0
  fi
  # A half-extracted tree from an earlier failure is discarded.
  rm -rf "$BUILD_DIR"/kubernetes-* "$BUILD_DIR"/kubernetes_*
  log "apt-get source kubernetes (into $BUILD_DIR)"
  # Debian 12 ships v1.20.2 as "1.20.5+really1.20.2"; the version check below makes sure of it.
  (cd "$BUILD_DIR" && apt-get source -qq kubernetes >&2)
  SRC_DIR=$(find "$BUILD_DIR" -maxdepth 1 -type d -name 'kubernetes-*' | head -1)
  [[ -n $SRC_DIR && -f $SRC_DIR/Makefile ]] || die "apt-get source kubernetes produced no source tree in $BUILD_DIR"
  local version
  version=$(basename "$SRC_DIR")
  [[ $version == "kubernetes-$K8S_VERSION"* || $version == *"really$K8S_VERSION" ]] ||
    die "expected Kubernetes $K8S_VERSION from apt-get source, got $version (is this Debian 12?)"
}

patch_reflect2() {
  # reflect2 v1.0.1 (vendored) relies on runtime internals that changed in Go 1.18 and crashes at start-up;
  # Debian's packaged reflect2 is API-compatible and fixed.
  [[ -d $REFLECT2_SRC ]] || die "$REFLECT2_SRC missing (package golang-github-modern-go-reflect2-dev)"
  local dest="$SRC_DIR/vendor/github.com/modern-go/reflect2"
  [[ -d $dest ]] || die "expected vendored reflect2 at $dest"
  log "replacing vendored reflect2 with $REFLECT2_SRC"
  rsync -a --delete --exclude '*_test.go' --exclude 'go.mod' --exclude 'go.sum' --exclude 'test*/' \
    "$REFLECT2_SRC/" "$dest/"
}

build() {
  log "building kube-apiserver, kube-controller-manager, kube-scheduler (several minutes)"
  (cd "$SRC_DIR" && PATH="$GO_BIN:$PATH" make WHAT="cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler" >&2)
}

install_assets() {
  local out="$SRC_DIR/_output/bin" b tmp
  mkdir -p "$ASSETS_DIR"
  # Copy through a temporary name so an interrupted copy never looks like a complete binary.
  for b in kube-apiserver kube-controller-manager kube-scheduler; do
    [[ -x $out/$b ]] || die "build produced no $out/$b"
    tmp="$ASSETS_DIR/.$b.tmp"
    cp "$out/$b" "$tmp" && mv -f "$tmp" "$ASSETS_DIR/$b"
  done
  for b in etcd etcdctl; do
    local src
    src=$(command -v "$b" || true)
    if [[ -z $src ]]; then
      [[ $b == etcdctl ]] && continue
      die "$b not found after installing etcd-server"
    fi
    tmp="$ASSETS_DIR/.$b.tmp"
    cp "$src" "$tmp" && mv -f "$tmp" "$ASSETS_DIR/$b"
  done
}

ensure_packages
fetch_source
patch_reflect2
build
install_assets
have_all || die "assets incomplete in $ASSETS_DIR"
"$ASSETS_DIR/kube-apiserver" --version >&2
# The source tree and build outputs take 2.4 GB; keep them only on request (KEEP_KUBE_BUILD=1).
if [[ ${KEEP_KUBE_BUILD:-0} != 1 ]]; then
  log "removing build directory $BUILD_DIR"
  rm -rf "$BUILD_DIR"
fi
log "done"
echo "$ASSETS_DIR"
