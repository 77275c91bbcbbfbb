#!/usr/bin/env bash
# Benchmark of `syllabus-trainer serve` on loopback: requests per second and p50/p99 latency of /infer under `hey`
# (Debian package hey), 1-row and 32-row requests, dynamic batching on (--max-batch-size 64) and off (1), beside the
# bare model forward time of the same batches (from syllabus_serve_forward_duration_seconds, batching off) and the
# server's overhead as p50 latency at concurrency 1 / forward time. Prints a Markdown table.
#   bash scripts/bench-serve.sh [MODEL_FOLDER] [REQUESTS]
# Default model: the README's MNIST run (${SYLLABUS_CACHE:-~/.cache/syllabus}/runs/mnist-mlp/model).
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${SYLLABUS_CACHE:-$HOME/.cache/syllabus}
model=${1:-$cache/runs/mnist-mlp/model}
requests=${2:-1600}
csv=$cache/mnist/test.csv
port=${BENCH_PORT:-18181}
bin=trainer-image/Syllabus.Trainer/bin/Release/net10.0/linux-x64/syllabus-trainer
command -v hey >/dev/null || { echo "hey is required (apt-get install hey)"; exit 1; }
[[ -f $model/model.json ]] || { echo "no model at $model: train examples/trainingrun-mnist-mlp.yaml first"; exit 1; }
[[ -f $csv ]] || { echo "no $csv: run scripts/prepare-mnist.sh"; exit 1; }
[[ -x $bin ]] || dotnet build -c Release trainer-image/Syllabus.Trainer >/dev/null
work=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT

# An OIP request of the first N test digits (the label column dropped), data flat.
for rows in 1 32; do
  awk -F, -v n=$rows 'NR > 1 && NR <= n + 1 { sub(/^[^,]*,/, ""); data = data (data == "" ? "" : ",") $0 }
    END { printf "{\"inputs\":[{\"name\":\"features\",\"shape\":[%d,784],\"datatype\":\"FP32\",\"data\":[%s]}]}", n, data }' "$csv" > "$work/rows-$rows.json"
done

metric() { curl -s "http://127.0.0.1:$port/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }

echo "| batching | rows/request | concurrency | requests/s | p50 ms | p99 ms | forward ms (bare) | p50 / forward |"
echo "|---|---|---|---|---|---|---|---|"
for mode in off on; do
  max=$([[ $mode == on ]] && echo 64 || echo 1)
  OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} "$bin" serve --model "$model" --urls "http://127.0.0.1:$port" --max-batch-size "$max" --max-queue-delay-ms 2 >"$work/serve.log" 2>&1 &
  server=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/v2/health/ready" >/dev/null && break; sleep 0.2; done
  name=$(curl -s "http://127.0.0.1:$port/v2/health/ready" >/dev/null; sed -n "s/.*serving model '\([^']*\)'.*/\1/p" "$work/serve.log")
  for rows in 1 32; do
    for concurrency in 1 16; do
      hey -n 100 -c "$concurrency" -m POST -T application/json -D "$work/rows-$rows.json" "http://127.0.0.1:$port/v2/models/$name/infer" >/dev/null
      sum0=$(metric "syllabus_serve_forward_duration_seconds_sum{model=\"$name\"}"); count0=$(metric "syllabus_serve_forward_duration_seconds_count{model=\"$name\"}")
      hey -n "$requests" -c "$concurrency" -m POST -T application/json -D "$work/rows-$rows.json" "http://127.0.0.1:$port/v2/models/$name/infer" > "$work/hey.txt"
      sum1=$(metric "syllabus_serve_forward_duration_seconds_sum{model=\"$name\"}"); count1=$(metric "syllabus_serve_forward_duration_seconds_count{model=\"$name\"}")
      rps=$(awk '/Requests\/sec/ { print $2 }' "$work/hey.txt")
      p50=$(awk '/ 50% in/ { print $3 * 1000 }' "$work/hey.txt")
      p99=$(awk '/ 99% in/ { print $3 * 1000 }' "$work/hey.txt")
      errors=$(awk '/\[200\]/ { ok = $2 } END { print ok }' "$work/hey.txt")
      # hey sends n / c requests from each of its c workers.
      [[ $errors == $((requests / concurrency * concurrency)) ]] || { echo "only $errors requests answered 200:"; cat "$work/hey.txt"; exit 1; }
      forward=$(awk -v s0="$sum0" -v s1="$sum1" -v c0="$count0" -v c1="$count1" 'BEGIN { printf "%.3f", (s1 - s0) / (c1 - c0) * 1000 }')
      # The bare forward of exactly this batch is measured with batching off (each forward is one request's rows).
      [[ $mode == off && $concurrency == 1 ]] && declare "bare_$rows=$forward"
      bare_var="bare_$rows"; bare=${!bare_var}
      ratio=$([[ $concurrency == 1 ]] && awk -v p="$p50" -v f="$bare" 'BEGIN { printf "%.1f", p / f }' || echo "")
      echo "| $mode | $rows | $concurrency | $rps | $p50 | $p99 | $bare | $ratio |"
    done
  done
  kill $server; wait $server 2>/dev/null || true
done
