#!/usr/bin/python3
"""Reference values for the drift statistics, computed by scipy (Debian's python3-scipy 1.10.1).

Regenerate (from the repository root):
    apt-get install -y python3-scipy
    /usr/bin/python3 tests/Syllabus.Trainer.Tests/Drift/testdata/reference_values.py \
        > tests/Syllabus.Trainer.Tests/Drift/testdata/reference_values.json

Samples are not stored: both sides regenerate them from a 31-bit linear congruential generator whose arithmetic
is exact in IEEE doubles (integers below 2^53, divisions by powers of two, sums in a fixed order), so C# and numpy
see bit-identical data. PSI and the chi-squared/z-tests follow Evidently's definitions
(evidently/calculations/stattests: psi.py, utils.get_binned_data, chisquare_stattest.py, z_stattest.py),
written out here with numpy/scipy because Evidently itself is not installed.
"""
import json
import math
import sys

import numpy as np
import scipy
from scipy import stats
from scipy.spatial import distance


class Lcg:
    """x <- (1103515245 x + 12345) mod 2^31; uniform = x / 2^31."""

    def __init__(self, seed):
        self.x = seed % 2147483648

    def uniform(self):
        self.x = (1103515245 * self.x + 12345) % 2147483648
        return self.x / 2147483648.0


def sample(spec):
    rng = Lcg(spec["seed"])
    out = []
    for _ in range(spec["n"]):
        if spec["kind"] == "normal":
            s = 0.0
            for _ in range(12):
                s += rng.uniform()
            out.append((s - 6.0) * spec["scale"] + spec["shift"])
        elif spec["kind"] == "int":
            out.append(float(math.floor(rng.uniform() * spec["levels"])) + spec["shift"])
        elif spec["kind"] == "const":
            out.append(spec["shift"])
        else:
            raise ValueError(spec["kind"])
    return np.array(out, dtype=np.float64)


def normal(seed, n, shift=0.0, scale=1.0):
    return {"seed": seed, "n": n, "kind": "normal", "shift": shift, "scale": scale}


def ints(seed, n, levels, shift=0.0):
    return {"seed": seed, "n": n, "kind": "int", "levels": levels, "shift": shift, "scale": 1.0}


def const(n, value):
    return {"seed": 1, "n": n, "kind": "const", "shift": value, "scale": 1.0}


ks_cases = [
    ("one_vs_one_equal", const(1, 0.0), const(1, 0.0)),
    ("one_vs_one_apart", const(1, 0.0), const(1, 1.0)),
    ("one_vs_three", normal(1, 1), normal(2, 3)),
    ("three_vs_five", normal(3, 3), normal(4, 5, 0.5)),
    ("tiny_equal_sizes", normal(5, 8), normal(6, 8, 1.0)),
    ("ties_small_ints", ints(7, 40, 4), ints(8, 55, 4, 1.0)),
    ("ties_many", ints(9, 300, 6), ints(10, 200, 6)),
    ("constant_columns_same", const(50, 3.0), const(80, 3.0)),
    ("constant_columns_apart", const(50, 3.0), const(80, 4.0)),
    ("square_100", normal(11, 100), normal(12, 100, 0.3)),
    ("square_identical", normal(13, 100), normal(13, 100)),
    ("unequal_exact_70_50", normal(14, 70), normal(15, 50, 0.2)),
    ("unequal_exact_1000_3000", normal(16, 1000), normal(17, 3000, 0.05)),
    ("exact_boundary_10000", normal(18, 10000), normal(19, 2000, 0.03)),
    ("asymp_boundary_10001", normal(20, 10001), normal(21, 2000, 0.03)),
    ("asymp_small_window_pomeranz", normal(22, 12000), normal(23, 30, 0.4)),
    ("asymp_small_window_dmtw", normal(24, 12000), normal(25, 100, 0.05)),
    ("asymp_small_window_far", normal(26, 12000), normal(27, 60, 2.0)),
    ("asymp_large_same", normal(28, 20000), normal(29, 15000)),
    ("asymp_large_shifted", normal(30, 20000), normal(31, 15000, 0.02)),
    ("asymp_large_far", normal(32, 20000), normal(33, 15000, 0.1)),
]

# kstwo.sf(x, n) and smirnov(n, x) on a grid that passes every branch of scipy's _kolmogn.
kstwo_points = []
for n in [1, 2, 3, 5, 10, 37, 100, 140, 141, 500, 1000, 5000, 20000, 100000, 100001, 250000]:
    for x in [0.0004, 0.001, 0.003, 0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.1, 0.15, 0.2, 0.3, 0.45, 0.5, 0.6, 0.9, 0.99]:
        kstwo_points.append((n, x))
    kstwo_points.append((n, 0.75 / n))
    kstwo_points.append((n, 1.0 / n))
smirnov_points = [(n, x) for n in [2, 5, 10, 11, 50, 140, 1000, 20000] for x in [0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.95]]

count_cases = [
    ("identical", [10, 20, 30, 40], [1, 2, 3, 4]),
    ("shifted", [40, 30, 20, 10], [10, 20, 30, 40]),
    ("empty_current_bin", [25, 25, 25, 25], [0, 30, 30, 40]),
    ("empty_reference_bin", [0, 30, 30, 40], [25, 25, 25, 25]),
    ("tiny_share", [1, 99999, 0], [5000, 5000, 1]),
    ("two_categories", [700, 300], [650, 350]),
    ("many_bins", [5, 8, 13, 21, 34, 55, 89, 144, 233, 377], [377, 233, 144, 89, 55, 34, 21, 13, 8, 5]),
]


def evidently_smoothed(counts):
    p = np.array(counts, dtype=np.float64) / float(sum(counts))
    nz = p[p != 0]
    fill = nz.min() / 10**6 if nz.min() <= 0.0001 else 0.0001
    np.place(p, p == 0, fill)
    return p


def psi(ref, cur):
    r, c = evidently_smoothed(ref), evidently_smoothed(cur)
    return float(np.sum((r - c) * np.log(r / c)))


def chisquare(ref, cur):
    k = sum(cur) / sum(ref)
    f_exp = [x * k for x in ref]
    with np.errstate(divide="ignore", invalid="ignore"):
        res = stats.chisquare(cur, f_exp)
    return float(res[0]), float(res[1])


def bh(p):
    p = np.asarray(p, dtype=np.float64)
    m = len(p)
    order = np.argsort(p)
    ranked = p[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out.tolist()


def z_test(hits1, n1, hits2, n2):
    p1, p2 = hits1 / n1, hits2 / n2
    P = (p1 * n1 + p2 * n2) / (n1 + n2)
    z = (p1 - p2) / np.sqrt(P * (1 - P) * (1.0 / n1 + 1.0 / n2))
    return float(z), float(2 * (1 - stats.norm.cdf(np.abs(z))))


out = {
    "generator": "tests/Syllabus.Trainer.Tests/Drift/testdata/reference_values.py",
    "scipy": scipy.__version__,
    "numpy": np.__version__,
    "ks_2samp": [],
    "wasserstein_norm": [],
    "kstwo_sf": [{"n": n, "x": x, "sf": float(stats.kstwo.sf(x, n))} for n, x in kstwo_points],
    "smirnov": [{"n": n, "x": x, "sf": float(scipy.special.smirnov(n, x))} for n, x in smirnov_points],
    "counts": [],
    "z_test": [],
    "corrections": [],
}
for name, a, b in ks_cases:
    xa, xb = sample(a), sample(b)
    res = stats.ks_2samp(xa, xb)
    out["ks_2samp"].append({"name": name, "a": a, "b": b, "statistic": float(res.statistic), "pvalue": float(res.pvalue)})
    wd = stats.wasserstein_distance(xa, xb)
    out["wasserstein_norm"].append({"name": name, "a": a, "b": b, "distance": float(wd), "normed": float(wd / max(np.std(xa), 0.001))})
for name, ref, cur in count_cases:
    stat, p = chisquare(ref, cur)
    out["counts"].append({
        "name": name, "reference": ref, "current": cur,
        "psi": psi(ref, cur),
        "jensenshannon": float(distance.jensenshannon(np.array(ref, float) / sum(ref), np.array(cur, float) / sum(cur))),
        "chisquare_statistic": stat if math.isfinite(stat) else "Infinity",
        "chisquare_pvalue": p,
    })
for hits1, n1, hits2, n2 in [(300, 1000, 350, 1000), (30, 100, 80, 120), (1, 5, 4, 6), (500, 1000, 500, 1000), (0, 200, 3, 50)]:
    z, p = z_test(hits1, n1, hits2, n2)
    out["z_test"].append({"referenceHits": hits1, "referenceCount": n1, "currentHits": hits2, "currentCount": n2, "z": z, "pvalue": p})
for p in [[0.01, 0.04, 0.03, 0.2, 0.5], [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216], [0.5]]:
    out["corrections"].append({"p": p, "bonferroni": [min(1.0, x * len(p)) for x in p], "benjaminiHochberg": bh(p)})

json.dump(out, sys.stdout, indent=1)
sys.stdout.write("\n")
