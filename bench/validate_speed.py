"""How long `assess validate --strict rulesets/` takes from a cold interpreter (start-up,
imports, every shipped ruleset). The goal is well under a second; the test suite only
checks that validate never imports Polars, since a time limit there fails on a busy machine.

    .venv/bin/python bench/validate_speed.py [--repeat 5]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "engine", "validate", "--strict", "rulesets"],
                       cwd=ROOT, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    print(f"validate --strict rulesets/: median {statistics.median(times):.3f} s, "
          f"min {min(times):.3f} s over {args.repeat} runs (goal: under 1 s)")


if __name__ == "__main__":
    main()
