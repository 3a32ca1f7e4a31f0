#!/usr/bin/env python3
"""Entity scoring at scale (issue 17), against hand-written Polars. Run by hand:

    python bench/entities.py --assess .venv/bin/assess                 # everything (~10 min)
    python bench/entities.py --steps health --customers 100000 --runs 1 # a quick try

Steps (--steps, comma-separated; default all):
  health   `assess run rulesets/customer_health.yaml --data DIR --format parquet` on
           `assess sample-data --customers N --format parquet` (N: --customers, default
           1,000,000) against bench/customer_health_hand.py, interleaved A B A B; every
           run's table is checked against the hand-written one (same ids, order, ranks,
           grades, every value and score within 1e-9).
  vendors  the scoring part of a run of 30 KPIs (6 by percentile) over 2,000 entities
           (200,000 rows), in-process: from the end of the data pass to the end of the
           entity scorecards (the progress steps "scoring" to "recommending"), and the
           recommendations after it.
  crm      `assess run rulesets/crm_assessment.yaml --data DIR --format json` on 200,000
           customers against bench/crm_hand.py, interleaved; total, grade and every KPI
           value checked.

Each timed run is a process of its own started by bench/launch.py (wall, CPU, peak RSS,
the CPU other processes took meanwhile). The machine is shared: before each run the
harness waits up to --idle-wait seconds for it to be 90% idle, and records what it saw.
Results: --json (default bench/results/entities-<date>.json).
"""
from __future__ import annotations

import argparse
import compileall
import datetime as dt
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl

sys.path.insert(0, str(Path(__file__).parent))
from run import launch, machine  # noqa: E402  (bench/run.py: the launcher and the machine record)

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent


def data(args: argparse.Namespace, customers: int) -> Path:
    out = args.data_root / f"c{customers}"
    if not (out / "interactions.parquet").exists():
        subprocess.run([args.assess, "sample-data", "--out", str(out), "--customers", str(customers),
                        "--format", "parquet"], check=True, stdout=subprocess.DEVNULL)
    return out


def interleaved(args: argparse.Namespace, engine: list[str], hand: list[str], check: Any) -> dict[str, Any]:
    """A warm-up pair, then --runs pairs A B; every run's output checked by ``check``."""
    runs: dict[str, list[dict[str, Any]]] = {"assess": [], "hand": []}
    for i in range(args.runs + 1):
        for name, cmd in (("assess", engine), ("hand", hand)):
            r = launch(cmd, args.idle_wait)
            if r["rc"] not in (0, 1):
                raise SystemExit(f"{name} exited {r['rc']}: {r.get('stderr', '')[-2000:]}")
            check(name)
            if i:  # the first pair warms the page cache
                runs[name].append(r)
            print(f"  {name:6} wall {r['wall']:.2f} s  cpu {r['user'] + r['sys']:.2f} s  "
                  f"rss {r['maxrss_kib'] / 1024:.0f} MiB  others {r.get('foreign_cpu', 0):.0%}", flush=True)
    wall = {n: statistics.median(r["wall"] for r in rs) for n, rs in runs.items()}
    ratios = [a["wall"] / h["wall"] for a, h in zip(runs["assess"], runs["hand"])]
    return {"runs": runs, "median_wall": wall, "ratio_median": statistics.median(ratios), "ratios": ratios,
            "median_rss_mib": {n: statistics.median(r["maxrss_kib"] / 1024 for r in rs) for n, rs in runs.items()},
            "median_cpu": {n: statistics.median(r["user"] + r["sys"] for r in rs) for n, rs in runs.items()}}


def same_tables(a: Path, h: Path) -> None:
    engine = pl.read_parquet(a).drop("actions")
    hand = pl.read_parquet(h)
    assert engine.columns == hand.columns, (engine.columns, hand.columns)
    assert engine["id"].equals(hand["id"]), "entity order differs"
    for c in engine.columns:
        x, y = engine[c], hand[c]
        if x.dtype == pl.String or c == "rank":
            assert x.equals(y), c
        else:
            assert ((x - y).abs() <= 1e-9).all() and x.null_count() == y.null_count() == 0, c


def step_health(args: argparse.Namespace, results: dict[str, Any]) -> None:
    folder = data(args, args.customers)
    tmp = Path(tempfile.mkdtemp())
    a, h = tmp / "assess.parquet", tmp / "hand.parquet"
    engine = [args.assess, "run", str(ROOT / "rulesets/customer_health.yaml"), "--data", str(folder),
              "--format", "parquet", "--out", str(a)]
    hand = [sys.executable, str(HERE / "customer_health_hand.py"), "--data", str(folder), "--out", str(h)]
    print(f"customer_health on {args.customers:,} customers", flush=True)

    def check(name: str) -> None:
        if name == "hand":
            same_tables(a, h)

    results["health"] = {"customers": args.customers, "entities": pl.scan_parquet(a).select(pl.len()).collect().item()
                         if a.exists() else None, **interleaved(args, engine, hand, check)}
    results["health"]["entities"] = pl.read_parquet(h).height


VENDORS = 2000


def vendors_ruleset(folder: Path) -> Path:
    """30 KPIs over one table of 200,000 rows and 2,000 vendors; 6 by percentile."""
    rows = 200_000
    import numpy as np
    rng = np.random.default_rng(7)
    frame = pl.DataFrame({"vendor_id": [f"V{i % VENDORS:05d}" for i in range(rows)],
                          **{f"x{j}": rng.normal(50 + j, 10, rows).round(1) for j in range(30)}})
    frame.write_parquet(folder / "t.parquet")
    kpis = []
    for j in range(30):
        scoring = "scoring: percentile" if j % 5 == 0 else f"target: {55 + j}\n    floor: {35 + j}"
        kpis.append(f"  k{j}:\n    formula: m{j}\n    {scoring}\n    weight: {1 + j % 3}\n    category: c{j % 4}")
    text = ("ruleset: many_vendors\nby: vendor_id\nsources:\n  t: {path: t.parquet}\nmeasures:\n"
            + "".join(f"  m{j}: {{source: t, mean: x{j}}}\n" for j in range(30))
            + "kpis:\n" + "\n".join(kpis) + "\ncategories:\n"
            + "".join(f"  c{i}: {{weight: {i + 1}}}\n" for i in range(4))
            + "actions:\n  - {id: plan, scope: entity, when: 'score < 50', text: '{{ entity.name }} needs a plan'}\n")
    (folder / "many_vendors.yaml").write_text(text)
    return folder / "many_vendors.yaml"


def step_vendors(args: argparse.Namespace, results: dict[str, Any]) -> None:
    from engine.run import run
    folder = Path(tempfile.mkdtemp())
    ruleset = vendors_ruleset(folder)
    out = []
    for i in range(args.runs + 1):
        marks: dict[str, tuple[float, float]] = {}

        def now() -> tuple[float, float]:  # wall, and CPU of this process (all its threads)
            return time.perf_counter(), time.process_time()
        start = now()
        _, _, result = run(ruleset, progress=lambda step, marks=marks: marks.setdefault(step, now()))
        end = now()
        assert result.table.height == VENDORS
        r = {f"{what}{suffix}": b[i] - a[i] for i, suffix in ((0, ""), (1, "_cpu"))
             for what, a, b in (("total", start, end), ("scoring", marks["scoring"], marks["recommending"]),
                                ("recommending", marks["recommending"], end))}
        print(f"  vendors: scoring {r['scoring']:.3f} s (cpu {r['scoring_cpu']:.3f} s), recommending "
              f"{r['recommending']:.3f} s, whole run {r['total']:.2f} s", flush=True)
        if i:
            out.append(r)
    results["vendors"] = {"entities": VENDORS, "kpis": 30, "rows": 200_000, "runs": out,
                          "median_scoring": statistics.median(r["scoring"] for r in out),
                          "median_scoring_cpu": statistics.median(r["scoring_cpu"] for r in out)}


def step_crm(args: argparse.Namespace, results: dict[str, Any]) -> None:
    folder = data(args, 200_000)
    tmp = Path(tempfile.mkdtemp())
    a, h = tmp / "assess.json", tmp / "hand.json"
    engine = [args.assess, "run", str(ROOT / "rulesets/crm_assessment.yaml"), "--data", str(folder),
              "--format", "json", "--out", str(a)]
    hand = [sys.executable, str(HERE / "crm_hand.py"), "--data", str(folder), "--out", str(h)]
    print("crm_assessment on 200,000 customers", flush=True)

    def check(name: str) -> None:
        if name != "hand":
            return
        e, m = json.loads(a.read_text()), json.loads(h.read_text())
        assert abs(e["score"] - m["score"]) < 1e-9 and e["grade"] == m["grade"], (e["score"], m["score"])
        for k in e["kpis"]:
            assert abs(k["value"] - m["kpis"][k["id"]]["value"]) < 1e-9, k["id"]

    results["crm"] = {"customers": 200_000, **interleaved(args, engine, hand, check)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--assess", default=str(Path(sys.executable).parent / "assess"))
    ap.add_argument("--steps", default="health,vendors,crm")
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--idle-wait", type=float, default=60.0)
    ap.add_argument("--data-root", type=Path, default=Path(tempfile.gettempdir()) / "assess-entities")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    args.data_root.mkdir(parents=True, exist_ok=True)
    # the engine's bytecode, as an installed package has it: with PYTHONDONTWRITEBYTECODE
    # set (as on the bench machine) an editable install compiles every module on every run
    compiled = compileall.compile_dir(ROOT / "engine", quiet=1)
    results: dict[str, Any] = {"machine": machine(), "argv": sys.argv[1:], "bytecode": compiled,
                               "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                                        capture_output=True, text=True).stdout.strip()}
    for step in args.steps.split(","):
        {"health": step_health, "vendors": step_vendors, "crm": step_crm}[step](args, results)
    path = args.json or HERE / "results" / f"entities-{dt.date.today()}.json"
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"results in {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
