#!/usr/bin/env python3
"""Tables of medians and ratios from the last `cargo bench -p breaker-benches` run.

Reads target/criterion/<group>/<bench>/new/{estimates,benchmark}.json and prints, per group,
the median ns/call, the added cost (median - the group's own baseline) and the ratio to the
best peer of the same group, then the issue's goals with the measured ratios. Markdown, so the
output pastes into BENCHMARKS.md.

    python3 benches/report.py [path/to/target/criterion]
"""

import json
import pathlib
import sys

# Groups in which the guarded function never runs (the breaker rejects the call): their whole
# median is the breaker's cost, so it is compared as is rather than minus the baseline.
RAW_GROUPS = {"open", "async_open"}
# Rows that do not call the guarded function either (a lookup alone).
RAW_ROWS = {
    ("keyed", "ours_with_or_create_one_key"),
    ("keyed", "ours_with_or_create_scattered"),
    ("keyed", "ours_get_or_create_with_scattered"),
    ("keyed", "reference_hashmap_one_key"),
    ("keyed", "reference_hashmap_scattered"),
}
GROUP_ORDER = [
    "closed",
    "closed_io",
    "open",
    "failing_10pct",
    "async_closed",
    "async_closed_io",
    "async_open",
    "two_threads",
    "two_threads_io",
    "two_threads_time_window",
    "keyed",
    "policies",
]


def load(root):
    groups = {}
    for estimates in sorted(root.glob("*/*/new/estimates.json")):
        new = estimates.parent
        meta = json.loads((new / "benchmark.json").read_text())
        median = json.loads(estimates.read_text())["median"]["point_estimate"]
        groups.setdefault(meta["group_id"], {})[meta["function_id"]] = median
    return groups


def cost(group, row, median, baseline):
    """What the breaker adds to a call: the median minus the baseline, or the whole median."""
    if group in RAW_GROUPS or (group, row) in RAW_ROWS or baseline is None:
        return median
    return median - baseline


def analyse(groups):
    """{group: [(row, median, cost, ratio to best peer or None)]}"""
    out = {}
    for group in sorted(groups, key=lambda g: (GROUP_ORDER + [g]).index(g)):
        rows = groups[group]
        baseline = rows.get("baseline")
        costs = {r: cost(group, r, m, baseline) for r, m in rows.items() if r != "baseline"}
        peers = [c for r, c in costs.items() if r.startswith("peer_")]
        best = min(peers) if peers else None
        table = []
        if baseline is not None:
            table.append(("baseline", baseline, None, None))
        for row in sorted(costs, key=lambda r: (not r.startswith("ours"), costs[r])):
            ratio = costs[row] / best if best and best > 0 else None
            table.append((row, rows[row], costs[row], ratio))
        out[group] = table
    return out


def get(analysis, group, row):
    for r in analysis.get(group, []):
        if r[0] == row:
            return r
    return None


def goals(analysis):
    """(goal, measured, met) for each goal of the issue that this suite measures."""
    result = []

    def ratio_goal(text, group, row, limit):
        r = get(analysis, group, row)
        if not r:
            return
        if r[3] is None:
            # No peer costs more than its baseline here: a ratio would mean nothing.
            result.append((text, f"n/a: best peer's added cost <= 0 ({r[2]:.1f} ns ours)", False))
        elif r[2] < 0:
            # Faster than the bare call: the baseline pays a stall we do not; no ratio.
            result.append((text, f"below the baseline ({r[2]:.1f} ns)", "as measured"))
        else:
            result.append((text, f"{r[3]:.2f} ({r[2]:.1f} ns)", r[3] <= limit))

    ratio_goal("closed success, added cost <= 1/5 of best peer", "closed", "ours_builder", 0.2)
    ratio_goal("closed success (io::Result) <= 1/5 of best peer", "closed_io", "ours_builder", 0.2)
    ratio_goal("2 threads on one breaker <= 1/10 of best peer", "two_threads", "ours_builder", 0.1)
    ratio_goal(
        "2 threads on one breaker (io::Result) <= 1/10 of best peer",
        "two_threads_io",
        "ours_builder",
        0.1,
    )
    ratio_goal("open rejection <= 3/10 of best peer", "open", "ours_builder", 0.3)
    ratio_goal("async closed <= 1/4 of best peer", "async_closed", "ours_builder", 0.25)
    ratio_goal(
        "async closed (io::Result) <= 1/4 of best peer", "async_closed_io", "ours_builder", 0.25
    )
    r = get(analysis, "policies", "ours_rate_time_window")
    peers = [x for x in analysis.get("policies", []) if x[0] in
             ("peer_failsafe_consecutive", "peer_recloser_call_window")]
    if r and peers:
        best = min(p[2] for p in peers)
        result.append(("time-window rate policy <= best peer's count-based policy",
                       f"{r[2]:.1f} ns vs {best:.1f} ns", r[2] <= best))
    r = get(analysis, "two_threads_time_window", "ours_rate_time_window")
    peer = get(analysis, "two_threads_time_window", "peer_failsafe_consecutive")
    if r and peer:
        result.append(("time-window rate policy, 2 threads <= best peer's count-based policy",
                       f"{r[2]:.1f} ns vs {peer[2]:.1f} ns", r[2] <= peer[2]))
    # The macro rows call the guarded function: their added cost is the lookup plus the call's
    # own few nanoseconds.
    for row in (
        "ours_with_or_create_one_key",
        "ours_macro_call_one_key",
        "ours_with_or_create_scattered",
        "ours_macro_call_scattered",
    ):
        r = get(analysis, "keyed", row)
        if r:
            result.append((f"keyed lookup ({row}) < 25 ns", f"{r[2]:.1f} ns", r[2] < 25))
    # What the machine allows: the same lookups in an unsynchronised HashMap.
    for ours, floor in (
        ("ours_with_or_create_one_key", "reference_hashmap_one_key"),
        ("ours_with_or_create_scattered", "reference_hashmap_scattered"),
    ):
        r, f = get(analysis, "keyed", ours), get(analysis, "keyed", floor)
        if r and f:
            result.append((f"({ours} beside a plain HashMap: {floor})",
                           f"{r[2]:.1f} ns vs {f[2]:.1f} ns ({r[2] / f[2]:.2f}x)", None))
    for group in ("closed", "closed_io", "async_closed", "async_closed_io", "two_threads"):
        b, m = get(analysis, group, "ours_builder"), get(analysis, group, "ours_macro")
        if b and m:
            # The same within noise: 1 ns or 10 %, whichever is larger.
            ok = m[2] <= b[2] + max(1.0, 0.1 * b[2])
            result.append((f"macro path == builder path ({group})",
                           f"{m[2]:.1f} ns vs {b[2]:.1f} ns", ok))
    return result


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")
    groups = load(root)
    if not groups:
        sys.exit(f"no results under {root}; run `cargo bench -p breaker-benches` first")
    analysis = analyse(groups)
    print("| group | subject | median ns/call | added ns | ratio to best peer |")
    print("|---|---|---:|---:|---:|")
    for group, table in analysis.items():
        for row, median, added, ratio in table:
            added_s = "" if added is None else f"{added:.1f}"
            ratio_s = "" if ratio is None else f"{ratio:.2f}"
            print(f"| {group} | {row} | {median:.1f} | {added_s} | {ratio_s} |")
    print()
    print("| goal | measured | met |")
    print("|---|---|---|")
    for text, measured, met in goals(analysis):
        verdict = {None: "reference", True: "yes", False: "**no**"}.get(met, met)
        print(f"| {text} | {measured} | {verdict} |")


if __name__ == "__main__":
    main()
