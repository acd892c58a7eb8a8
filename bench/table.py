#!/usr/bin/env python3
"""Summarises bench/run.sh's timings: one table of medians and ratios, then the counts.

    table.py RESULTS_DIR PCAP NGINX_LOG TOOL...

RESULTS_DIR holds TOOL.N.time files ("wall_s max_rss_kb user_s sys_s", from /usr/bin/time -f
'%e %M %U %S'), TOOL.out (the last run's standard output) and env.txt (with the capture's
"capture: N packets, B bytes" line from bench/gen.sh).
"""

import glob
import json
import os
import re
import statistics
import sys


def runs(res, tool):
    out = []
    for path in sorted(glob.glob(os.path.join(res, f"{tool}.*.time"))):
        with open(path) as f:
            lines = [line for line in f.read().splitlines() if line.strip()]
        # /usr/bin/time prints "Command exited with non-zero status N" before the numbers
        wall, rss, user, sys_ = lines[-1].split()
        out.append((float(wall), int(rss), float(user), float(sys_)))
    return out


def main():
    res, pcap, log, tools = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    env = open(os.path.join(res, "env.txt")).read()
    m = re.search(r"capture: (\d+) packets, (\d+) bytes", env)
    packets, size = (int(m.group(1)), int(m.group(2))) if m else (0, os.path.getsize(pcap))

    rows = {}
    for t in tools:
        r = runs(res, t)
        if not r:
            continue
        rows[t] = {
            "n": len(r),
            "wall": statistics.median(x[0] for x in r),
            "min": min(x[0] for x in r),
            "max": max(x[0] for x in r),
            "cpu": statistics.median(x[2] + x[3] for x in r),
            "rss": statistics.median(x[1] for x in r) / 1024.0,
        }
    base = rows.get("connscope")
    print(f"capture: {packets} packets, {size / 1e6:.1f} MB")
    hdr = ("tool", "runs", "wall median s", "(min-max)", "cpu s", "Mpkt/s", "MB/s",
           "peak RSS MB", "wall x connscope", "RSS x connscope")
    print("| " + " | ".join(hdr) + " |")
    print("|" + "---|" * len(hdr))
    for t, r in rows.items():
        w = max(r["wall"], 1e-9)
        ratio_t = f"{r['wall'] / base['wall']:.2f}" if base else "-"
        ratio_m = f"{r['rss'] / base['rss']:.2f}" if base else "-"
        print(f"| {t} | {r['n']} | {r['wall']:.2f} | {r['min']:.2f}-{r['max']:.2f} | "
              f"{r['cpu']:.2f} | {packets / w / 1e6:.2f} | {size / w / 1e6:.0f} | "
              f"{r['rss']:.1f} | {ratio_t} | {ratio_m} |")

    # the counts, which are the point
    print()
    with open(log) as f:
        lines = f.read().splitlines()
    ngx_conns = len({line.split()[4] for line in lines if line.split()})
    print(f"nginx log:  {len(lines)} requests on {ngx_conns} connections")
    try:
        # jsonl: the summary is the last line
        with open(os.path.join(res, "connscope.out")) as f:
            last = f.read().rstrip("\n").rsplit("\n", 1)[-1]
        s = json.loads(last)
        if s.get("type") != "summary":
            raise ValueError("the last line is not the summary")
        with open(os.path.join(res, "connscope.summary.json"), "w") as f:
            json.dump(s, f, indent=1)
        print(f"connscope:  {s['requests']} requests ({s['responses']} responses, "
              f"{s['unanswered']} unanswered) on {s['http_connections']} connections with a "
              f"request, {s['connections']} TCP connections, reuse ratio {s['reuse_ratio']:.4f}, "
              f"gap bytes {s['tcp']['gap_bytes']}, http errors {s['http_errors'] or 'none'}")
    except (OSError, ValueError, KeyError) as e:
        print(f"connscope:  no summary ({e})")
    try:
        text = open(os.path.join(res, "tshark.out")).read()
        sec = text.split("HTTP Request Methods", 1)[1].split("====", 1)[0]
        n = sum(int(x) for x in re.findall(r"^\s+\S+\s+(\d+)\s*$", sec, re.M))
        print(f"tshark:     {n} requests (HTTP Request Methods in -z http,stat)")
    except (OSError, IndexError):
        print("tshark:     no http,stat output")
    try:
        text = open(os.path.join(res, "tcptrace.out")).read()
        m = re.search(r"(\d+) TCP connections traced", text)
        print(f"tcptrace:   {m.group(1) if m else '?'} TCP connections (no HTTP requests)")
    except OSError:
        pass


if __name__ == "__main__":
    main()
