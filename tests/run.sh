#!/usr/bin/env bash
# The test command: installs/caches the test prerequisites, builds the solution, runs every test project and
# ends with one line "N passed, N failed, N skipped" counted from the TRX results.
# Tests whose prerequisites are missing (Docker for k3s, a GPU, ...) report themselves skipped with the reason.
set -uo pipefail
cd "$(dirname "$0")/.."

results="${TEST_RESULTS_DIR:-$PWD/TestResults}"
rm -rf "$results"
mkdir -p "$results"

if assets_line=$(bash scripts/test-prereqs.sh | grep '^KUBEBUILDER_ASSETS=' | tail -1); then :; fi
if [[ -n "${assets_line:-}" && -z "${KUBEBUILDER_ASSETS:-}" ]]; then
  export "${assets_line?}"
fi

dotnet build Operator.sln -c Release -warnaserror 2>&1 | tail -n 3
build_status=${PIPESTATUS[0]}
if [[ $build_status -ne 0 ]]; then
  echo "build failed"
  echo "0 passed, 1 failed, 0 skipped"
  exit 1
fi

# A hung test must fail the run visibly rather than use up CI's time: the whole suite takes about 3 minutes here.
timeout --kill-after=30s "${TEST_TIMEOUT:-40m}" \
  dotnet test --solution Operator.sln -c Release --no-build --report-trx --results-directory "$results" "$@"
test_status=$?
if [[ $test_status -eq 124 || $test_status -eq 137 ]]; then
  echo "the test run exceeded ${TEST_TIMEOUT:-40m} and was stopped"
fi

passed=0; failed=0; skipped=0
shopt -s nullglob
trx_files=("$results"/*.trx)
for trx in "${trx_files[@]}"; do
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -1)
  get() { sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p" <<<"$counters"; }
  passed=$((passed + $(get passed)))
  failed=$((failed + $(get failed) + $(get error) + $(get timeout) + $(get aborted)))
  skipped=$((skipped + $(get notExecuted)))
done
if [[ ${#trx_files[@]} -eq 0 ]]; then
  echo "no test results were written"
  failed=$((failed + 1))
fi

echo "$passed passed, $failed failed, $skipped skipped"
if [[ $test_status -ne 0 || $failed -ne 0 ]]; then
  exit 1
fi
