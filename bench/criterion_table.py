#!/usr/bin/env python3
"""Prints the last `cargo bench --bench hot_paths` results as a markdown table.

    python3 bench/criterion_table.py [TARGET_DIR]

Reads TARGET_DIR/criterion/*/.../new/{benchmark,estimates}.json (TARGET_DIR defaults to
./target): median time per iteration with its 95% confidence interval, and the median
throughput in the unit the benchmark declared (bytes or elements per second).
"""

import glob
import json
import os
import sys


def human_time(ns):
    for unit, div in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= div:
            return f"{ns / div:.2f} {unit}"
    return f"{ns:.0f} ns"


def human_rate(per_s, unit):
    if unit == "Bytes":
        return f"{per_s / 2**20:,.0f} MiB/s" if per_s < 2**30 * 10 else f"{per_s / 2**30:,.1f} GiB/s"
    return f"{per_s / 1e6:,.2f} M/s"


def main():
    target = sys.argv[1] if len(sys.argv) > 1 else "target"
    rows = []
    for bench in glob.glob(os.path.join(target, "criterion", "**", "new", "benchmark.json"),
                           recursive=True):
        d = os.path.dirname(bench)
        b = json.load(open(bench))
        e = json.load(open(os.path.join(d, "estimates.json")))["median"]
        med = e["point_estimate"]
        lo, hi = e["confidence_interval"]["lower_bound"], e["confidence_interval"]["upper_bound"]
        tp = b.get("throughput") or {}
        unit, n = next(iter(tp.items())) if tp else (None, None)
        per_iter = f"{n:,} {'bytes' if unit == 'Bytes' else 'elements'}" if unit else "-"
        rate = human_rate(n / (med / 1e9), unit) if unit else "-"
        rows.append((b["full_id"], human_time(med), f"{human_time(lo)} – {human_time(hi)}",
                     per_iter, rate))
    order = ["read", "decode", "flow_table", "reassembly", "http_head", "http_session", "pipeline"]
    rows.sort(key=lambda r: (order.index(r[0].split("/")[0]) if r[0].split("/")[0] in order
                             else 99, r[0]))
    print("| benchmark | median | 95% CI | per iteration | throughput |")
    print("|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
