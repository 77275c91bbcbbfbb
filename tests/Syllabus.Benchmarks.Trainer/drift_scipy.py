#!/usr/bin/python3
"""scipy's ks_2samp and wasserstein_distance on the drift benchmark's arrays (float32, feature-major), timed like the
C# detectors: all features, median of the repetitions after one warm-up pass, wall and thread CPU time.

    /usr/bin/python3 drift_scipy.py REFERENCE CURRENT FEATURES ROWS REPETITIONS
"""
import sys
import time

import numpy as np
import scipy
from scipy import stats

reference_path, current_path, features, rows, repetitions = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
reference = np.fromfile(reference_path, dtype=np.float32).astype(np.float64).reshape(features, rows)
current = np.fromfile(current_path, dtype=np.float32).astype(np.float64).reshape(features, rows)


def measure(test):
    times = []
    cpu_times = []
    drifted = 0
    for r in range(repetitions + 1):
        start = time.perf_counter()
        cpu_start = time.thread_time()
        drifted = sum(1 for f in range(features) if test(reference[f], current[f]))
        if r > 0:
            times.append((time.perf_counter() - start) * 1000)
            cpu_times.append((time.thread_time() - cpu_start) * 1000)
    times.sort()
    cpu_times.sort()
    return times[len(times) // 2], cpu_times[len(cpu_times) // 2], drifted


# One thread, as scipy runs: the parallel column is empty.
for name, test in [
    (f"scipy {scipy.__version__} ks_2samp", lambda a, b: stats.ks_2samp(a, b).pvalue <= 0.05),
    (f"scipy {scipy.__version__} wasserstein_distance / std", lambda a, b: stats.wasserstein_distance(a, b) / max(np.std(a), 0.001) >= 0.1),
]:
    ms, cpu_ms, drifted = measure(test)
    print(f"| {name} (same arrays, both sorted per call) | – | {ms:.1f} | {cpu_ms:.1f} | {drifted} |")
