"""Fuzz the loader and the validator: mutate the shipped rulesets at random and check that
validation either passes (and the plan compiles) or fails with located problems, never
with another exception. Not part of the test suite; run it for a bounded time:

    python tests/fuzz_rulesets.py --seconds 120

What it finds is fixed and kept as a regression test in tests/test_properties.py.
"""
from __future__ import annotations

import argparse
import random
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.compile import compile_plan  # noqa: E402
from engine.errors import AssessError  # noqa: E402
from engine.load import load_text  # noqa: E402
from engine.validate import validate  # noqa: E402

ODD = [None, True, 0, -1, 1e308, "", " ", "x", "é", "1 +", "a.b", "__class__", [], {}, [1, [2]],
       {"a": None}, "2025-13-45", "9**9**9", "{{ x }}", "{% for %}", "../../etc/passwd", "NaN"]


def mutate(node: Any, rng: random.Random, depth: int = 0) -> Any:
    """A copy of ``node`` with a few random changes: values swapped for odd ones, keys
    dropped or renamed, lists shortened, structures nested where a scalar was."""
    if rng.random() < 0.04 and depth > 0:
        return rng.choice(ODD)
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            roll = rng.random()
            if roll < 0.03:
                continue  # dropped
            if roll < 0.05:
                key = key + rng.choice(["_", "s", ""]) if isinstance(key, str) else key
            out[key] = mutate(value, rng, depth + 1)
        return out
    if isinstance(node, list):
        items = [mutate(v, rng, depth + 1) for v in node if rng.random() > 0.05]
        return items + ([rng.choice(ODD)] if rng.random() < 0.03 else [])
    if isinstance(node, str) and rng.random() < 0.05:
        cut = rng.randrange(len(node) + 1)
        return node[:cut] + rng.choice(["(", ")", " ", "'", "_", "0"]) + node[cut:]
    return node


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    sources = [yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted((ROOT / "rulesets").glob("*.yaml"))
               if not p.name.endswith(".tests.yaml")]
    end, runs, found = time.monotonic() + args.seconds, 0, 0
    while time.monotonic() < end:
        data = mutate(rng.choice(sources), rng)
        text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
        runs += 1
        try:
            ruleset = validate(load_text(text, str(ROOT / "rulesets" / "fuzz.yaml")))
            compile_plan(ruleset, dict(ruleset.params))
        except AssessError:
            pass
        except Exception:  # a crash: what the fuzzer is for
            found += 1
            case = ROOT / f"fuzz-crash-{found}.yaml"
            case.write_text(text, encoding="utf-8")
            print(f"crash {found}, kept in {case}:\n{traceback.format_exc()}", file=sys.stderr)
    print(f"{runs} rulesets in {args.seconds:.0f} s, {found} crash(es)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
