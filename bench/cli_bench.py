"""CLI start-up benchmark: read commands of both entries against ``python -c pass``, same run, alternating.

    python bench/cli_bench.py [--runs 7] [--command "cycle list"] [--command "tasks K01"]

Claim under test (issue 11): a read command answers in at most 0.3 s, and migrations do not run on every call.
Each entry (``python -m cli``, the `kamreview` script's code, and ``starter.py``, the design card's) runs each
command as a fresh interpreter process of the project's venv; the reads use the embedded servers (started
once, before the clock, by a first untimed call), so what is measured is the command's own cost: imports,
settings, the schema check, the query, the output. Reports the median wall time of each, and the CPU time
(user + system) the process used, which a busy machine disturbs less than wall time; then a JSON line.
"""

# ruff: noqa: E402 - the repository root goes on sys.path before the project's imports

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import resource
import shlex
import statistics
import subprocess
import time

from bench.common import ROOT, emit_json, finish, machine, now_iso

TARGET_S = 0.3
ENTRIES = {"python -m cli": ["-m", "cli"], "starter.py": ["starter.py"]}


def timed(argv: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--command", action="append", help="a read command to time (default: cycle list, tasks K01)")
    args = parser.parse_args()
    commands = args.command or ["cycle list", "tasks K01"]
    floor = [sys.executable, "-c", "pass"]
    reads = {(entry, c): [sys.executable, *prefix, *shlex.split(c)]
             for entry, prefix in ENTRIES.items() for c in commands}
    timed(next(iter(reads.values())))  # untimed: starts the embedded servers and migrates, as a day's first call
    floors: list[tuple[float, float]] = []
    samples: dict[tuple[str, str], list[tuple[float, float]]] = {key: [] for key in reads}
    for _ in range(args.runs):
        for key, argv in reads.items():
            floors.append(timed(floor))
            samples[key].append(timed(argv))
    f = statistics.median(w for w, _ in floors)
    print(f"floor  (python -c pass): median {f:.3f} s wall, {statistics.median(c for _, c in floors):.3f} s CPU")
    results = []
    for (entry, command), runs in samples.items():
        wall, cpu = statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)
        results.append({"entry": entry, "command": command, "read_s": round(wall, 4), "cpu_s": round(cpu, 4)})
        print(f"read   ({entry} {command}): median {wall:.3f} s wall, {cpu:.3f} s CPU of {args.runs}")
    worst = max(r["read_s"] for r in results)
    verdict = "PASS" if worst <= TARGET_S else "FAIL"
    print(f"SUMMARY cli bench: slowest read {worst:.3f} s, floor {f:.3f} s, above the floor {worst - f:.3f} s; "
          f"target read <= {TARGET_S} s: {verdict}")
    emit_json({"at": now_iso(), "bench": "cli", "runs": args.runs, "machine": machine(), "floor_s": round(f, 4),
               "reads": results, "read_s": worst, "verdict": verdict})
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    finish(main())
