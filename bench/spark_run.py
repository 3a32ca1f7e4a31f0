#!/usr/bin/env python3
"""By hand (bench/README.md, issue 14): a ruleset on `--engine spark` against the Polars
engine, every result compared, the JVM's start timed apart and its CPU counted.

    .venv/bin/python bench/spark_run.py --dq                # bench/dq_rules.yaml, 10M rows
    .venv/bin/python bench/spark_run.py --customers 1250000 --ruleset rulesets/crm_assessment.yaml

The data is made once under --data-root as bench/dq_compare.py makes it (the same folders).
Each timed run is a child process started by dq_compare.py's launcher, under `flock
/tmp/bench.lock` (--lock; so do not wrap this script in flock yourself): its wall, and the
CPU and peak RSS of the Python process and, apart, of the JVM it leaves behind. Timed:

1. the session start alone: `engine.connect.spark()` in a fresh Python, then exit;
2. `assess run RULESET --data DATA --engine spark --format json --out ...`;
3. the same run on the Polars engine.

The two JSON results must be equal (tests/conftest.py's approx_equal, relative 1e-9, as the
conformance suite compares them), without `sources`, `engine` and `queries`; with
--evidence the runs also write `--evidence`, and each rule's file must hold the same rows
(in any order). Spark reads its usual settings: e.g. PYSPARK_SUBMIT_ARGS="--driver-memory
4g pyspark-shell" for a bigger driver heap. With SPARK_REMOTE set, the Spark run goes to that
Spark Connect server; --server-pid counts the server's CPU (from /proc) in each run.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import statistics
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(REPO / "tests"), str(HERE)]

import dq_compare as dq  # noqa: E402  the data, the launcher, machine()
from conftest import approx_equal  # noqa: E402

START = "from engine.connect import spark; spark()"


def differences(a: object, b: object, path: str = "") -> list[str]:
    """Where two JSON results differ, as paths (`checks[4].samples[0].interaction_id`)."""
    if approx_equal(a, b):
        return []
    if isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys():
        return [d for k in a for d in differences(a[k], b[k], f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]")]
    return [f"{path}: {str(a)[:300]} (Spark) != {str(b)[:300]} (Polars)"]


def evidence_differences(spark: pathlib.Path, polars: pathlib.Path) -> list[str]:
    """Rules whose evidence files differ, as sets of rows (engines write them in other orders)."""
    import polars as pl

    names = sorted({p.name for p in spark.glob("*.csv")} | {p.name for p in polars.glob("*.csv")})
    out = []
    for name in names:
        if not (spark / name).exists() or not (polars / name).exists():
            out.append(f"evidence {name}: written by one engine only")
            continue
        a, b = (pl.read_csv(f / name, infer_schema=False) for f in (spark, polars))
        if a.columns != b.columns or not a.sort(a.columns, nulls_last=True).equals(b.sort(b.columns, nulls_last=True)):
            out.append(f"evidence {name}: {a.height} rows on Spark, {b.height} on Polars, not the same rows")
    return out


def server_cpu(pid: int | None) -> float:
    """The CPU seconds (user + system) a running process has used: a Spark Connect server's."""
    if pid is None:
        return 0.0
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(label: str, cmd: list[str], args: argparse.Namespace) -> dict:
    load = os.getloadavg()
    before = server_cpu(args.server_pid)
    got, stderr = dq.run_child(cmd, dict(os.environ), lock=args.lock)
    if got["code"] not in (0, 1):
        raise SystemExit(f"{label} exited {got['code']}:\n{stderr[-4000:]}")
    got.update(label=label, load=load, cpu_server=server_cpu(args.server_pid) - before)
    server = f" + {got['cpu_server']:.1f} s server" if args.server_pid else ""
    print(f"{label:24s} {got['wall']:7.1f} s wall  CPU {got['cpu_child']:6.1f} s Python + {got['cpu_left']:6.1f} s "
          f"JVM{server}  peak RSS {dq.mib(got['rss_kib'])} MiB Python, {dq.mib(got['rss_left_kib'])} MiB JVM  "
          f"(load {load[0]:.1f})", flush=True)
    return got


def one_round(ruleset: pathlib.Path, data: pathlib.Path, args: argparse.Namespace, folder: pathlib.Path) -> dict:
    runs = {"start": timed("JVM and session start", [sys.executable, "-c", START], args)}
    results = {}
    for engine in ("spark", "polars"):
        out = folder / f"{engine}.json"
        cmd = [args.assess, "run", str(ruleset), "--data", str(data), "--format", "json", "--out", str(out),
               "--engine", engine if engine == "spark" else "auto"]
        if args.evidence:
            cmd += ["--evidence", str(folder / f"evidence-{engine}")]
        runs[engine] = timed(f"run on {engine}", cmd, args)
        results[engine] = json.loads(out.read_text())
    queries = results["spark"].get("queries")
    for result in results.values():
        for k in ("sources", "engine", "queries"):
            result.pop(k, None)
    problems = differences(results["spark"], results["polars"])
    if runs["spark"]["code"] != runs["polars"]["code"]:
        problems.append(f"exit code {runs['spark']['code']} on Spark, {runs['polars']['code']} on Polars")
    if args.evidence:
        problems += evidence_differences(folder / "evidence-spark", folder / "evidence-polars")
    checks = results["polars"].get("checks", [])
    print(f"Spark sent {queries} queries; {len(checks)} checks, {sum(c['status'] != 'pass' for c in checks)} "
          f"not passing; {'EQUAL' if not problems else 'DIFFERENT:'}", *problems[:20], sep="\n  ", flush=True)
    return {"runs": runs, "queries": queries, "problems": problems}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dq", action="store_true",
                        help="bench/dq_rules.yaml on dq_compare.py's data with defects (10M rows)")
    parser.add_argument("--ruleset", default=str(REPO / "rulesets" / "crm_assessment.yaml"),
                        help="without --dq (default rulesets/crm_assessment.yaml)")
    parser.add_argument("--customers", type=int,
                        help="customers of the sample data (default 1,250,000 with --dq, else 1,000,000)")
    parser.add_argument("--data", help="a folder of data instead of the sample made under --data-root")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--defect-rate", type=float, default=0.001, help="with --dq, as in dq_compare.py")
    parser.add_argument("--runs", type=int, default=1, help="rounds of the three timed runs (default 1)")
    parser.add_argument("--evidence", action="store_true", help="also write and compare --evidence")
    parser.add_argument("--no-samples", action="store_true",
                        help="the ruleset with `settings: {samples: 0}`: the aggregate queries alone")
    parser.add_argument("--assess", default=str(REPO / ".venv" / "bin" / "assess"))
    parser.add_argument("--data-root", default=str(pathlib.Path(tempfile.gettempdir()) / "assess-bench"))
    parser.add_argument("--server-pid", type=int,
                        help="with SPARK_REMOTE set: the Connect server's process, whose CPU is counted too")
    parser.add_argument("--lock", default="/tmp/bench.lock", help="flock this file around each timed run ('' not to)")
    parser.add_argument("--json", help="write the figures here (default bench/results/spark_run-<ruleset>-c<N>.json)")
    args = parser.parse_args()
    args.customers = args.customers or (1_250_000 if args.dq else 1_000_000)

    ruleset = dq.RULESET if args.dq else pathlib.Path(args.ruleset).resolve()
    if args.data:
        data = pathlib.Path(args.data)
    elif args.dq:
        data = dq.make_data(args)
    else:
        data = dq.sample_data(args.assess, pathlib.Path(args.data_root), args.customers, args.seed)
    folder = pathlib.Path(tempfile.mkdtemp(prefix="spark_run-"))
    if args.no_samples:
        import yaml

        text = yaml.safe_load(ruleset.read_text(encoding="utf-8"))
        ruleset = folder / ruleset.name
        ruleset.write_text(yaml.safe_dump({**text, "settings": {**text.get("settings", {}), "samples": 0}},
                                          allow_unicode=True, sort_keys=False), encoding="utf-8")
    try:
        rounds = [one_round(ruleset, data, args, folder) for _ in range(args.runs)]
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    def median(part: str, key: str) -> float:
        return statistics.median(r["runs"][part][key] for r in rounds)

    print(f"\n{ruleset.name} on {data} ({args.runs} round(s), median)\n\n"
          "| | wall (s) | CPU Python (s) | CPU JVM (s) | CPU Connect server (s) | peak RSS Python (MiB) "
          "| peak RSS JVM (MiB) |\n|---|---:|---:|---:|---:|---:|---:|")
    for part, label in (("start", "JVM and session start alone"), ("spark", "`--engine spark`, whole run"),
                        ("polars", "Polars engine, whole run")):
        print(f"| {label} | {median(part, 'wall'):.1f} | {median(part, 'cpu_child'):.1f} | "
              f"{median(part, 'cpu_left'):.1f} | {median(part, 'cpu_server'):.1f} | {dq.mib(median(part, 'rss_kib'))} | "
              f"{dq.mib(median(part, 'rss_left_kib'))} |")
    name = (f"spark_run-{ruleset.stem}-c{args.customers}{'-nosamples' if args.no_samples else ''}"
            f"{'-connect' if os.environ.get('SPARK_REMOTE') else ''}")
    out = pathlib.Path(args.json or HERE / "results" / f"{name}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": dq.machine(), "args": vars(args), "data": str(data),
                               "ruleset": str(ruleset.relative_to(REPO)) if ruleset.is_relative_to(REPO) else str(ruleset),
                               "pyspark_submit_args": os.environ.get("PYSPARK_SUBMIT_ARGS"), "rounds": rounds},
                              indent=1, default=str))
    print(f"\nresults: {out}")
    problems = [p for r in rounds for p in r["problems"]]
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
