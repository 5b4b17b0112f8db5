"""CLI start-up benchmark: a read command against ``python -c pass``, same run, alternating.

    python bench/cli_bench.py [--runs 7] [--command "cycle list"]

Claim under test (issue 11): a read command answers in at most 0.3 s, and migrations do not run on every call.
Both sides are fresh interpreter processes of the project's venv; the read uses the embedded servers (started
once, before the clock, by a first untimed call), so what is measured is the command's own cost: imports,
settings, the schema check, the query, the output. Reports the median wall time of each side, the difference
(the command's cost above a bare interpreter) and the ratio, then a JSON line.
"""

# ruff: noqa: E402 - the repository root goes on sys.path before the project's imports

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import shlex
import statistics
import subprocess
import time

from bench.common import ROOT, emit_json, finish, machine, now_iso

TARGET_S = 0.3


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--command", default="cycle list", help="the starter.py read command to time")
    args = parser.parse_args()
    read = [sys.executable, "starter.py", *shlex.split(args.command)]
    floor = [sys.executable, "-c", "pass"]
    timed(read)  # untimed: starts the embedded servers and migrates, as the first call of a day would
    floors, reads = [], []
    for _ in range(args.runs):
        floors.append(timed(floor))
        reads.append(timed(read))
    f, r = statistics.median(floors), statistics.median(reads)
    verdict = "PASS" if r <= TARGET_S else "FAIL"
    print(f"floor  (python -c pass): median {f:.3f} s of {args.runs}")
    print(f"read   (starter.py {args.command}): median {r:.3f} s of {args.runs}")
    print(f"SUMMARY cli bench: read {r:.3f} s, floor {f:.3f} s, above the floor {r - f:.3f} s, read/floor {r / f:.1f}; "
          f"target read <= {TARGET_S} s: {verdict}")
    emit_json({"at": now_iso(), "bench": "cli", "command": args.command, "runs": args.runs, "machine": machine(),
               "floor_s": round(f, 4), "read_s": round(r, 4), "ratio": round(r / f, 2), "verdict": verdict})
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    finish(main())
