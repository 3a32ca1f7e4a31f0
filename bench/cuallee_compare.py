#!/usr/bin/env python3
"""The cuallee benchmark's shape: assess, cuallee, Great Expectations and Soda, 38 checks.

The published cuallee benchmark runs 38 checks, a completeness and a uniqueness check on
each of the 19 columns of the NYC yellow-taxi trip table, on about 20M rows. This runs the
same checks on a synthetic table of the same schema, with every tool's failing counts
checked against a reference. Run it with the peers' environment (bench/requirements-peers.txt)
and point it at the project's `assess` command:

    /tmp/benchenv/bin/python bench/cuallee_compare.py --assess .venv/bin/assess

What it does (the harness of bench/dq_compare.py, whose helpers it imports):

1. Makes the data once and reuses it: a deterministic synthetic table (NumPy, --seed 7)
   with the 19 yellow-taxi columns, their types and realistic cardinalities and nulls
   (--rows, default 20,000,000), as zstd Parquet, `<data-root>/taxi-<rows>-s<seed>/trips.parquet`.
2. Counts every check's failing rows once with plain Polars (one `value_counts()` per
   column: the reference), in each tool's own definition of a duplicate.
3. Runs each tool end to end in a child process of its own (start-up, imports, reading the
   Parquet file, every check, the result), started by bench/launch.py, which takes wall
   time, CPU time (user + sys) and peak RSS from os.wait4 (and kills a child that passes
   --cap-mib): `assess run bench/cuallee_rules.yaml --format json`, the same with evidence
   off (`settings: {samples: 0}`), cuallee's Polars backend on `pl.read_parquet`, Great
   Expectations 1.x on a pandas DataFrame, Soda Core 3.x on DuckDB (a view on the file, or
   a table loaded from it). A warm-up round (checked, not kept), then --runs timed rounds
   in a rotating order, each run after waiting for the machine to be 90% idle.
4. Checks on every run that each tool's failing counts equal the reference and exits 1,
   naming tool, check and both counts, when one does not.
5. Prints Markdown tables (timings, speed-up of assess, per-check counts) and writes
   everything (machine, versions, every run, the reference) to a JSON file.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent
RULESET = HERE / "cuallee_rules.yaml"
LAUNCH = HERE / "launch.py"
sys.path.insert(0, str(HERE))
import dq_compare as dq  # the shared harness: idle wait, machine, versions

# The 19 columns of the yellow-taxi trip records (TLC's Parquet files since 2022), with the
# type assess's contract declares; the same order in bench/cuallee_rules.yaml.
COLUMNS = [
    ("VendorID", "int"), ("tpep_pickup_datetime", "datetime"), ("tpep_dropoff_datetime", "datetime"),
    ("passenger_count", "float"), ("trip_distance", "float"), ("RatecodeID", "float"),
    ("store_and_fwd_flag", "string"), ("PULocationID", "int"), ("DOLocationID", "int"),
    ("payment_type", "int"), ("fare_amount", "float"), ("extra", "float"), ("mta_tax", "float"),
    ("tip_amount", "float"), ("tolls_amount", "float"), ("improvement_surcharge", "float"),
    ("total_amount", "float"), ("congestion_surcharge", "float"), ("airport_fee", "float"),
]
NAMES = [c for c, _ in COLUMNS]
TABLE = "trips"

# The 38 checks: completeness first, then uniqueness, as in bench/cuallee_rules.yaml.
CHECKS = ([{"id": f"{c}_complete", "column": c, "kind": "complete"} for c in NAMES]
          + [{"id": f"{c}_unique", "column": c, "kind": "unique"} for c in NAMES])

# Which reference count each tool reports. Missing values are counted alike; duplicates
# four ways (see reference_counts).
COUNT_OF = {
    "complete": {"assess": "nulls", "cuallee": "nulls", "gx": "nulls", "soda": "nulls"},
    "unique": {"assess": "dup_rows_beyond_first", "cuallee": "dup_rows_in_groups_null_as_value",
               "gx": "dup_rows_in_groups", "soda": "dup_values"},
}
COUNT_NAMES = {"nulls": "null rows", "dup_rows_beyond_first": "rows beyond the first of each value",
               "dup_rows_in_groups": "rows in duplicate groups",
               "dup_rows_in_groups_null_as_value": "rows in duplicate groups, null a value",
               "dup_values": "duplicated values"}

TOOLS = ("assess", "assess_streaming", "assess_samples0", "cuallee", "gx", "soda", "soda_table")
TOOL_NAMES = {"assess": "assess", "assess_samples0": "assess, evidence off (`settings: {samples: 0}`)",
              "assess_streaming": "assess --engine streaming",
              "cuallee": "cuallee (Polars)", "gx": "Great Expectations (pandas)",
              "soda": "Soda Core (DuckDB view on the Parquet file)",
              "soda_table": "Soda Core (DuckDB table loaded from the file)"}


def family(tool: str) -> str:
    return "assess" if tool.startswith("assess") else tool.split("_")[0]


def count_of(check: dict, tool: str) -> str:
    """The reference count that ``tool`` reports for ``check``."""
    return COUNT_OF[check["kind"]][family(tool)]


# ---------------------------------------------------------------------------- data

def make_data(args: argparse.Namespace) -> pathlib.Path:
    data = pathlib.Path(args.data_root) / f"taxi-{args.rows}-s{args.seed}"
    target = data / f"{TABLE}.parquet"
    if not target.exists():
        print(f"making {args.rows:,} trips in {target} ...", flush=True)
        t = time.perf_counter()
        data.mkdir(parents=True, exist_ok=True)
        frame = synthetic_trips(args.rows, args.seed)
        tmp = data / f"{TABLE}.parquet.tmp"
        frame.write_parquet(tmp, compression="zstd", statistics=True)
        del frame
        tmp.rename(target)
        print(f"  {time.perf_counter() - t:.1f} s, {target.stat().st_size / 2 ** 20:,.0f} MiB", flush=True)
    return data


def synthetic_trips(n: int, seed: int):
    """Yellow-taxi-like trips for January 2023: the TLC schema and types, plausible
    distributions, rounded to cents like the real fares. As in the real files,
    passenger_count, RatecodeID, store_and_fwd_flag, congestion_surcharge and airport_fee
    are null together (about 3% of the rows, where payment_type is 0)."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)

    def pick(values, weights, size=n):
        w = np.asarray(weights, dtype=float)
        return np.asarray(values)[rng.choice(len(values), size=size, p=w / w.sum())]

    missing = rng.random(n) < 0.03
    start = np.datetime64("2023-01-01T00:00:00", "s")
    pickup_s = rng.integers(0, 31 * 86400, n)
    duration_s = np.clip(np.exp(rng.normal(6.6, 0.7, n)), 1, 3 * 3600).astype(np.int64)
    distance = np.round(np.clip(np.exp(rng.normal(0.6, 0.9, n)), 0.01, 100), 2)
    distance[rng.random(n) < 0.02] = 0.0
    # taxi zones 1..265, a few of them busy (a shuffled Zipf-like weighting)
    zone_w = 1 / np.arange(1, 266) ** 1.1
    pu = rng.permutation(265)[rng.choice(265, size=n, p=zone_w / zone_w.sum())] + 1
    do = rng.permutation(265)[rng.choice(265, size=n, p=zone_w / zone_w.sum())] + 1
    payment = pick([1, 2, 3, 4], [78, 19, 1.5, 1.5])
    payment[missing] = 0
    fare = np.round(np.maximum(3.0, 3.0 + 2.5 * distance + 0.5 * duration_s / 60 + rng.normal(0, 1, n)), 2)
    extra = pick([0.0, 0.5, 1.0, 2.5, 3.5, 5.0], [30, 8, 30, 20, 8, 4])
    mta_tax = pick([0.5, 0.0], [98, 2])
    tip = np.where(payment == 1, np.round(fare * rng.uniform(0.1, 0.3, n), 2), 0.0)
    tip[rng.random(n) < 0.15] = 0.0
    tolls = pick([0.0, 6.55, -1.0], [93, 5, 2])
    odd = tolls < 0
    tolls[odd] = np.round(rng.uniform(1, 30, int(odd.sum())), 2)
    improvement = pick([1.0, 0.3, 0.0], [98, 1.5, 0.5])
    congestion = pick([2.5, 0.0], [90, 10])
    airport = pick([0.0, 1.25], [91, 9])
    total = np.round(fare + extra + mta_tax + tip + tolls + improvement + congestion + airport, 2)
    nulls = pl.Series(missing)

    def nullable(name, values):
        return pl.when(nulls).then(None).otherwise(pl.Series(name, values)).alias(name)

    frame = pl.DataFrame({
        "VendorID": pick([1, 2], [27, 73]).astype(np.int64),
        "tpep_pickup_datetime": (start + pickup_s.astype("timedelta64[s]")).astype("datetime64[us]"),
        "tpep_dropoff_datetime": (start + (pickup_s + duration_s).astype("timedelta64[s]")).astype("datetime64[us]"),
        "trip_distance": distance,
        "PULocationID": pu.astype(np.int64),
        "DOLocationID": do.astype(np.int64),
        "payment_type": payment.astype(np.int64),
        "fare_amount": fare, "extra": extra, "mta_tax": mta_tax, "tip_amount": tip,
        "tolls_amount": tolls, "improvement_surcharge": improvement, "total_amount": total,
    })
    frame = frame.with_columns(
        nullable("passenger_count", pick([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.0], [73, 15, 4, 2, 2, 2, 2])),
        nullable("RatecodeID", pick([1.0, 2.0, 3.0, 4.0, 5.0, 99.0], [94, 3.5, 0.4, 0.3, 1.5, 0.3])),
        nullable("store_and_fwd_flag", pick(["N", "Y"], [99.4, 0.6])),
        nullable("congestion_surcharge", congestion),
        nullable("airport_fee", airport),
    )
    return frame.select(NAMES)


def reference_counts(data: pathlib.Path) -> dict:
    """Per column, from one value_counts() (nulls are one group of it): the null rows, the
    distinct non-null values and a duplicate count in each tool's definition."""
    import polars as pl

    df = pl.read_parquet(data / f"{TABLE}.parquet")
    out = {"rows": df.height, "columns": {}}
    for name in NAMES:
        vc = df[name].value_counts(name="n")
        null_group = vc.filter(pl.col(name).is_null())["n"]
        nulls = int(null_group[0]) if len(null_group) else 0
        counts = vc.filter(pl.col(name).is_not_null())["n"].cast(pl.Int64)
        in_groups = int(counts.filter(counts > 1).sum())
        assert nulls == df[name].null_count() and int(counts.sum()) + nulls == df.height
        out["columns"][name] = {
            "nulls": nulls,
            "distinct": len(counts),
            # assess: rows with a value - distinct values (nulls ignored)
            "dup_rows_beyond_first": int((counts - 1).sum()),
            # GX: every row of a duplicated value, pandas duplicated(keep=False) (nulls skipped)
            "dup_rows_in_groups": in_groups,
            # cuallee (Polars): rows - rows whose value occurs once, is_unique(), where nulls
            # are one value: two or more nulls are duplicates of one another
            "dup_rows_in_groups_null_as_value": in_groups + (nulls if nulls > 1 else 0),
            # Soda: values that occur more than once (nulls ignored)
            "dup_values": int((counts > 1).sum()),
        }
    return out


# ---------------------------------------------------------------------------- workers
# Each runs in a child process and writes {"counts": {check: n}, "phases": {...}} to --out.

def worker_cuallee(data: pathlib.Path) -> dict:
    t0 = time.perf_counter()
    import polars as pl
    from cuallee import Check, CheckLevel
    t1 = time.perf_counter()
    df = pl.read_parquet(data / f"{TABLE}.parquet")
    t2 = time.perf_counter()
    check = Check(CheckLevel.WARNING, "cuallee_bench")
    for name in NAMES:
        check.is_complete(name)
    for name in NAMES:
        check.is_unique(name)
    result = check.validate(df)
    t3 = time.perf_counter()
    ids = {("is_" + c["kind"], c["column"]): c["id"] for c in CHECKS}
    counts, reported = {}, {}
    for row in result.iter_rows(named=True):
        check_id = ids[(row["rule"], row["column"])]
        violations = row["violations"]
        # cuallee reports violations = rows - passing rows, and pass_rate = passing / rows
        if violations != int(violations) or abs(row["rows"] * (1 - row["pass_rate"]) - violations) > 0.5:
            raise RuntimeError(f"cuallee: {check_id}: violations {violations} and pass_rate "
                               f"{row['pass_rate']} of {row['rows']} rows disagree")
        counts[check_id] = int(violations)
        reported[check_id] = {"violations": violations, "pass_rate": row["pass_rate"], "status": row["status"]}
    return {"counts": counts, "reported": reported, "rows": df.height,
            "phases": {"import": t1 - t0, "load": t2 - t1, "validate": t3 - t2}}


def worker_gx(data: pathlib.Path) -> dict:
    return dq.gx_counts(data, TABLE, "cuallee_bench", [
        (c["id"], "ExpectColumnValuesToNotBeNull" if c["kind"] == "complete" else "ExpectColumnValuesToBeUnique",
         {"column": c["column"]}) for c in CHECKS])


def soda_checks_yaml() -> str:
    import yaml
    checks = [{(f"missing_count({c['column']}) = 0" if c["kind"] == "complete"
                else f"duplicate_count({c['column']}) = 0"): {"name": c["id"]}} for c in CHECKS]
    return yaml.safe_dump({f"checks for {TABLE}": checks}, sort_keys=False)


def worker_soda(data: pathlib.Path, table: bool = False) -> dict:
    return dq.soda_counts(data, TABLE, "cuallee_bench", soda_checks_yaml(), load=table)


WORKERS = {"cuallee": worker_cuallee, "gx": worker_gx, "soda": worker_soda,
           "soda_table": lambda data: worker_soda(data, table=True)}


# ---------------------------------------------------------------------------- harness

def engine_state() -> str:
    """The commit of the work tree and a digest of engine/'s changes against it (assess is
    an editable install of this tree, and engine/ may be edited while the benchmark runs)."""
    def git(*a: str) -> str:
        return subprocess.run(["git", "-C", str(REPO), *a], capture_output=True, text=True, check=False).stdout
    head = git("rev-parse", "--short", "HEAD").strip()
    diff = git("diff", "HEAD", "--", "engine")
    untracked = git("ls-files", "--others", "--exclude-standard", "--", "engine").split()
    if not diff and not untracked:
        return f"{head} (engine/ clean)"
    digest = hashlib.sha1(diff.encode())
    for name in sorted(untracked):
        digest.update(name.encode() + (REPO / name).read_bytes())
    return f"{head} (engine/ modified, diff {digest.hexdigest()[:10]})"


def editable_assess(assess: str) -> bool:
    """Whether ``assess`` runs the engine of this work tree (an editable install)."""
    shebang = pathlib.Path(shutil.which(assess) or assess).read_text(errors="replace").splitlines()[0]
    if not shebang.startswith("#!"):
        return False
    where = subprocess.run([shebang[2:].strip(), "-c", "import engine; print(engine.__file__)"],
                           capture_output=True, text=True, cwd="/", check=False).stdout.strip()
    return where.startswith(str(REPO))


def run_child(cmd: list[str], cap_mib: float, env: dict | None = None) -> dict:
    """Run ``cmd`` under bench/launch.py: wall, user, sys, maxrss_kib, rc, capped, stderr."""
    fd, stats = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    subprocess.run([sys.executable, "-I", "-S", str(LAUNCH), stats, "--cap-mib", str(cap_mib), "--", *cmd],
                   env=env, check=True)
    got = json.loads(pathlib.Path(stats).read_text())
    os.unlink(stats)
    return got


def samples0_ruleset(folder: pathlib.Path) -> pathlib.Path:
    """bench/cuallee_rules.yaml with evidence off, as dq_compare.py --ablation makes it."""
    import yaml
    base = yaml.safe_load(RULESET.read_text())
    path = folder / "cuallee_rules_samples0.yaml"
    path.write_text(yaml.safe_dump({**base, "settings": {"samples": 0}}, sort_keys=False, allow_unicode=True))
    return path


def run_tool(tool: str, data: pathlib.Path, args: argparse.Namespace) -> dict:
    out = pathlib.Path(tempfile.mkstemp(suffix=".json")[1])
    env = dict(os.environ, GX_ANALYTICS_ENABLED="false")
    state = None
    if family(tool) == "assess":
        ruleset = args.samples0_ruleset if tool == "assess_samples0" else RULESET
        cmd = [args.assess, "run", str(ruleset), "--data", str(data), "--format", "json", "--out", str(out)]
        cmd += ["--engine", "streaming"] if tool == "assess_streaming" else []
        state = engine_state() if args.editable else None
    else:
        cmd = [sys.executable, str(pathlib.Path(__file__).resolve()), "--worker", tool,
               "--data", str(data), "--out", str(out)]
    idle = dq.wait_for_idle(args.idle_wait)
    load = os.getloadavg()[0]
    got = run_child(cmd, args.cap_mib, env)
    if got["capped"]:
        raise SystemExit(f"{tool} passed --cap-mib {args.cap_mib:g} MiB of resident memory and was killed")
    if got["rc"] != 0:
        raise SystemExit(f"{tool} exited {got['rc']}:\n{got['stderr']}")
    result = json.loads(out.read_text())
    out.unlink()
    run = {"tool": tool, "wall": got["wall"], "cpu": got["user"] + got["sys"], "user": got["user"],
           "sys": got["sys"], "rss_kib": got["maxrss_kib"], "foreign_cpu": got["foreign_cpu"],
           "load1": load, "idle_before": idle}
    if family(tool) == "assess":
        if state is not None:
            if state != engine_state():
                state += " -> " + engine_state() + " (engine/ changed during the run)"
            run["engine"] = state
        run["counts"] = {c["id"]: c["failed"] for c in result["checks"]}
        run["phases"] = {}
        run["statuses"] = {c["id"]: c.get("status") for c in result["checks"]}
    else:
        run.update(result)
    return run


def check_agreement(run: dict, reference: dict, checks: list[dict] = CHECKS) -> list[str]:
    problems = []
    if set(run["counts"]) != {c["id"] for c in checks}:
        problems.append(f"{run['tool']}: reported the checks {sorted(run['counts'])}")
    for check in checks:
        key = count_of(check, run["tool"])
        want = reference["columns"][check["column"]][key]
        got = run["counts"].get(check["id"])
        if got != want:
            problems.append(f"{run['tool']}: check {check['id']} counted {got}, the reference ({key}) is {want}")
    if "rows" in run and run["rows"] != reference["rows"]:
        problems.append(f"{run['tool']}: read {run['rows']} rows, the reference {reference['rows']}")
    return problems


ABLATIONS = {
    "as shipped": lambda r: r,
    "evidence off (`settings: {samples: 0}`)": lambda r: {**r, "settings": {"samples": 0}},
    "the 19 completeness checks only": lambda r: {**r, "checks": [c for c in r["checks"] if c["rule"] == "not_null"]},
    "the 19 uniqueness checks only": lambda r: {**r, "checks": [c for c in r["checks"] if c["rule"] == "unique"]},
    "uniqueness only, evidence off": lambda r: {**r, "settings": {"samples": 0},
                                                "checks": [c for c in r["checks"] if c["rule"] == "unique"]},
}


def ablation(data: pathlib.Path, reference: dict, args: argparse.Namespace) -> dict:
    """assess alone on variants of bench/cuallee_rules.yaml (as dq_compare.py --ablation):
    what the evidence, the completeness and the uniqueness checks cost."""
    import yaml
    base = yaml.safe_load(RULESET.read_text())
    folder = pathlib.Path(tempfile.mkdtemp(prefix="cuallee-ablation-"))
    variants = {}
    for i, (name, change) in enumerate(ABLATIONS.items()):
        ruleset = change(base)
        path = folder / f"variant{i}.yaml"
        path.write_text(yaml.safe_dump(ruleset, sort_keys=False, allow_unicode=True))
        ids = {c["id"] for c in ruleset["checks"]}
        variants[name] = (path, [c for c in CHECKS if c["id"] in ids])
    names = list(variants)
    runs, problems = [], []
    for round_ in range(args.runs + 1):
        for name in names[round_ % len(names):] + names[:round_ % len(names)]:
            path, checks = variants[name]
            out = folder / "out.json"
            state = engine_state() if args.editable else None
            dq.wait_for_idle(args.idle_wait)
            got = run_child([args.assess, "run", str(path), "--data", str(data), "--format", "json",
                             "--out", str(out)], args.cap_mib)
            if got["rc"] != 0 or got["capped"]:
                raise SystemExit(f"assess exited {got['rc']} on {name}:\n{got['stderr']}")
            result = json.loads(out.read_text())
            run = {"tool": "assess", "variant": name, "round": round_, "wall": got["wall"],
                   "cpu": got["user"] + got["sys"], "rss_kib": got["maxrss_kib"], "foreign_cpu": got["foreign_cpu"],
                   "counts": {c["id"]: c["failed"] for c in result["checks"]}}
            if state is not None:
                run["engine"] = state if state == engine_state() else f"{state} -> {engine_state()}"
            problems += [f"{name}: {p}" for p in check_agreement(run, reference, checks)]
            print(f"round {round_} {name:42s} {run['wall']:6.2f} s wall {run['cpu']:6.2f} s cpu "
                  f"{dq.mib(run['rss_kib']):>6s} MiB  foreign {run['foreign_cpu']:.0%}"
                  + (f"  {run['engine']}" if "engine" in run else ""), flush=True)
            if round_:
                runs.append(run)
    shutil.rmtree(folder, ignore_errors=True)
    return {"variants": names, "runs": runs, "problems": problems}


def ablation_report(results: dict) -> str:
    lines = [("| assess on bench/cuallee_rules.yaml | wall, median (s) | CPU user+sys, median (s) "
              "| peak RSS, median (MiB) |"), "|---|---:|---:|---:|"]
    for name in results["variants"]:
        mine = [r for r in results["runs"] if r["variant"] == name]
        lines.append(f"| {name} | {statistics.median(r['wall'] for r in mine):.2f} | "
                     f"{statistics.median(r['cpu'] for r in mine):.2f} | "
                     f"{dq.mib(statistics.median(r['rss_kib'] for r in mine))} |")
    return "\n".join(lines)


def report(results: dict) -> str:
    runs, tools = results["runs"], results["tools"]
    lines = [f"Data: {results['rows']:,} trips, 19 columns ({results['parquet_mib']:.0f} MiB Parquet), "
             f"{len(CHECKS)} checks; median of the timed runs ({results['args']['runs']} rounds"
             + (f", GX {results['args']['gx_runs']}" if results["args"]["gx_runs"] != results["args"]["runs"]
                else "") + ").", "",
             ("| tool | runs | wall, median (s) | wall, min..max (s) | CPU user+sys, median (s) "
              "| peak RSS, median (MiB) | assess is faster by (wall) | by CPU time |"),
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    med, cpu_med = {}, {}
    for tool in tools:
        mine = [r for r in runs if r["tool"] == tool]
        if not mine:
            continue
        walls = [r["wall"] for r in mine]
        med[tool] = statistics.median(walls)
        cpu_med[tool] = statistics.median(r["cpu"] for r in mine)
        base = "assess" in med and family(tool) != "assess"
        lines.append(f"| {TOOL_NAMES[tool]} | {len(mine)} | {med[tool]:.2f} | {min(walls):.2f}..{max(walls):.2f} | "
                     f"{cpu_med[tool]:.2f} | {dq.mib(statistics.median(r['rss_kib'] for r in mine))} | "
                     + (f"{med[tool] / med['assess']:.1f}x | {cpu_med[tool] / cpu_med['assess']:.1f}x |"
                        if base else " | |"))
    busy = [r for r in runs if r["foreign_cpu"] > results["args"]["max_foreign"]]
    lines += ["", f"Other work used at most {max(r['foreign_cpu'] for r in runs):.0%} of the machine's CPU "
              f"during a kept run; {len(results['disturbed_runs'])} disturbed run(s) were run again"
              + (f"; {len(busy)} kept run(s) stayed above {results['args']['max_foreign']:.0%}" if busy else "")
              + "."]
    peers = [t for t in tools if family(t) != "assess" and any(r["tool"] == t for r in runs)]
    if peers:
        lines += ["", "Phases inside the peers' processes (median s): import, load, validate", ""]
        for tool in peers:
            ph = [r["phases"] for r in runs if r["tool"] == tool]
            lines.append(f"- {TOOL_NAMES[tool]}: " + ", ".join(
                f"{k} {statistics.median(p[k] for p in ph):.2f}" for k in ("import", "load", "validate")))
    ref = results["reference"]["columns"]
    first = {t: next(r for r in runs if r["tool"] == t) for t in tools if any(r["tool"] == t for r in runs)}
    shown = [t for t in first if t not in ("assess_samples0", "soda_table")]
    lines += ["", "Completeness (null rows; every tool counts them alike):", "",
              "| column | reference | " + " | ".join(TOOL_NAMES[t] for t in shown) + " |",
              "|---|---:|" + "---:|" * len(shown)]
    for check in CHECKS[:len(NAMES)]:
        lines.append(f"| `{check['column']}` | {ref[check['column']]['nulls']:,} | "
                     + " | ".join(f"{first[t]['counts'][check['id']]:,}" for t in shown) + " |")
    lines += ["", "Uniqueness (each tool's own count; the reference computes each from one value_counts):", "",
              "| column | nulls | distinct values | " + " | ".join(
                  f"{TOOL_NAMES[t]}: {COUNT_NAMES[COUNT_OF['unique'][family(t)]]}" for t in shown) + " |",
              "|---|---:|---:|" + "---:|" * len(shown)]
    for check in CHECKS[len(NAMES):]:
        c = ref[check["column"]]
        lines.append(f"| `{check['column']}` | {c['nulls']:,} | {c['distinct']:,} | "
                     + " | ".join(f"{first[t]['counts'][check['id']]:,}" for t in shown) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000_000, help="trips in the table (default 20,000,000)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=3, help="timed rounds (default 3)")
    parser.add_argument("--gx-runs", type=int, help="timed rounds that include GX (default: --runs)")
    parser.add_argument("--tools", default=",".join(TOOLS), help=f"comma-separated, of: {','.join(TOOLS)} (default all)")
    parser.add_argument("--assess", default=shutil.which("assess") or str(REPO / ".venv" / "bin" / "assess"),
                        help="the assess command (default: on PATH, else .venv/bin/assess)")
    parser.add_argument("--data-root", default=str(pathlib.Path(tempfile.gettempdir()) / "assess-bench"),
                        help="where the data is made and kept between runs")
    parser.add_argument("--label", help="a note kept with the results")
    parser.add_argument("--json", help="write the results here (default bench/results/cuallee_compare-r<rows>.json)")
    parser.add_argument("--idle-wait", type=float, default=120,
                        help="before each run, wait up to this many seconds for the machine to be 90%% idle")
    parser.add_argument("--cap-mib", type=float, default=16384,
                        help="kill a run whose resident memory passes this (default 16384 MiB)")
    parser.add_argument("--max-foreign", type=float, default=0.10,
                        help="a timed run during which other processes used more than this share of the "
                             "machine's CPU is run again (default 0.10), up to --retries times")
    parser.add_argument("--retries", type=int, default=3, help="(default 3)")
    parser.add_argument("--ablation", action="store_true",
                        help="time assess alone on variants of the ruleset (evidence off, one kind of check)")
    parser.add_argument("--worker", choices=tuple(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        pathlib.Path(args.out).write_text(json.dumps(WORKERS[args.worker](pathlib.Path(args.data)), default=str))
        return 0

    args.gx_runs = args.runs if args.gx_runs is None else args.gx_runs
    tools = [t for t in args.tools.split(",") if t]
    if unknown := set(tools) - set(TOOLS):
        parser.error(f"unknown tools: {', '.join(sorted(unknown))}")
    folder = pathlib.Path(tempfile.mkdtemp(prefix="cuallee-compare-"))
    args.samples0_ruleset = samples0_ruleset(folder)
    data = make_data(args)
    print("reference counts ...", flush=True)
    reference = reference_counts(data)
    print(json.dumps(reference), flush=True)
    args.editable = editable_assess(args.assess)
    state_before = engine_state() if args.editable else "not an editable install of this work tree (see label)"
    if args.ablation:
        got = ablation(data, reference, args)
        results = {"machine": dq.machine(), "versions": {**dq.versions(args), "engine/ when the runs started": state_before},
                   "args": {k: str(v) if isinstance(v, pathlib.Path) else v for k, v in vars(args).items()},
                   "rows": reference["rows"], "reference": reference, **got}
        if args.editable:
            results["versions"]["engine/ when the runs ended"] = engine_state()
        out = pathlib.Path(args.json or HERE / "results" / f"cuallee_compare-r{args.rows}-ablation.json")
        out.write_text(json.dumps(results, indent=1, default=str))
        shutil.rmtree(folder, ignore_errors=True)
        if got["problems"]:
            print("\nTHE COUNTS DISAGREE:\n  " + "\n  ".join(got["problems"]), file=sys.stderr)
            return 1
        print("\n" + ablation_report(results) + f"\n\nresults: {out}")
        return 0

    runs, disturbed, problems = [], [], []
    for round_ in range(args.runs + 1):  # round 0 warms the page cache and is not kept
        order = tools[round_ % len(tools):] + tools[:round_ % len(tools)]
        if round_ > args.gx_runs:
            order = [t for t in order if t != "gx"]
        for tool in order:
            for attempt in range(args.retries + 1):
                run = run_tool(tool, data, args)
                run["round"], run["attempt"] = round_, attempt
                print(f"round {round_} {tool:16s} {run['wall']:7.2f} s wall {run['cpu']:7.2f} s cpu "
                      f"{dq.mib(run['rss_kib']):>7s} MiB  idle before {run['idle_before']:.0%} "
                      f"foreign {run['foreign_cpu']:.0%}  "
                      + " ".join(f"{k}={v:.2f}" for k, v in run["phases"].items())
                      + (f"  {run['engine']}" if "engine" in run else ""), flush=True)
                problems += check_agreement(run, reference)
                if run["foreign_cpu"] <= args.max_foreign or attempt == args.retries or not round_:
                    break
                # other work took more than --max-foreign of the machine during the run:
                # keep it apart (in the JSON) and run it again
                print(f"  other work used {run['foreign_cpu']:.0%} of the machine meanwhile: again", flush=True)
                disturbed.append(run)
            if round_:
                runs.append(run)
        if problems:
            break

    versions = dq.versions(args)
    try:
        from importlib.metadata import version
        versions["cuallee (peers)"] = version("cuallee")
    except Exception:  # noqa: BLE001
        versions["cuallee (peers)"] = None
    versions["engine/ when the runs started"] = state_before
    if args.editable:
        versions["engine/ when the runs ended"] = engine_state()
    args_out = {k: str(v) if isinstance(v, pathlib.Path) else v for k, v in vars(args).items()}
    results = {"machine": dq.machine(), "versions": versions, "args": args_out, "tools": tools,
               "rows": reference["rows"], "parquet_mib": (data / f"{TABLE}.parquet").stat().st_size / 2 ** 20,
               "checks": CHECKS, "count_of": COUNT_OF, "reference": reference, "runs": runs, "disturbed_runs": disturbed, "problems": problems}
    out = pathlib.Path(args.json or HERE / "results" / f"cuallee_compare-r{args.rows}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, default=str))
    shutil.rmtree(folder, ignore_errors=True)
    if problems:
        print("\nTHE TOOLS DISAGREE:\n  " + "\n  ".join(problems), file=sys.stderr)
        print(f"\nresults: {out}", file=sys.stderr)
        return 1
    if runs:
        print()
        print(report(results))
    print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
