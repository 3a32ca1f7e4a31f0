#!/usr/bin/env python3
"""Data-quality benchmark: assess against Great Expectations and Soda, same rules, same data.

Run it with the peers' environment (bench/requirements-peers.txt; bench/README.md says how
to make it) and point it at the project's `assess` command:

    /tmp/benchenv/bin/python bench/dq_compare.py --assess .venv/bin/assess

What it does:

1. Makes the data once and reuses it: `assess sample-data --format parquet` (default 1.25M
   customers, about 10M interactions), then a copy of interactions.parquet with
   deterministic defects injected (duplicate and missing ids, unknown and missing channels,
   unknown kinds, satisfaction out of 1..5, malformed customer ids, resolved before
   opened), so that every rule has failing rows to count and agree on.
2. Counts every rule's failing rows once with plain Polars/PyArrow (the reference), in each
   tool's own definition where the tools define a rule differently (duplicates).
3. Runs each tool end to end in a child process of its own (start-up, imports, reading the
   Parquet file, every rule, the result): `assess run bench/dq_rules.yaml --format json`,
   Great Expectations 1.x on a pandas DataFrame read from the file, Soda Core 3.x on DuckDB
   (a view on the file, or a table loaded from it). A warm-up round (checked, not kept),
   then --runs timed rounds, interleaved and
   in a rotating order; wall clock with time.perf_counter, CPU time and peak RSS from
   os.wait4's rusage of that child, all taken by a small launcher process that starts it.
   Before each run it waits (--idle-wait, up to 120 s) for the machine to be 90% idle, as
   the machine may be shared; `--ablation` times assess alone on variants of the ruleset.
4. Checks on every run that each tool's failing counts equal the reference (so the tools
   agree with one another) and exits 1, naming the rule, when one does not.
5. Prints a Markdown table (median wall, peak RSS, speed-up of assess) and the per-rule
   counts, and writes everything to a JSON file.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pathlib
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent
RULESET = HERE / "dq_rules.yaml"

CHANNELS = ["phone", "email", "chat", "visit", "social"]
KINDS = ["inquiry", "service", "sales", "complaint"]
CUSTOMER_ID_REGEX = "C[0-9]+"  # assess anchors it; the peers get ^...$ (they search)
ROW_MAX = 1_000_000_000

# The rules, one entry each, in the order of bench/dq_rules.yaml. `gx` is the expectation
# (class, kwargs); `soda` the SodaCL check (its `name:` is added); `count` says which
# reference count each tool reports: assess, GX and Soda define duplicates differently,
# every other rule the same (nulls out of scope of allowed values, range, regex and the
# consistency rule in all three).
RULES = [
    {"id": "row_count", "kind": "row_count (observed rows)",
     "gx": ("ExpectTableRowCountToBeBetween", {"min_value": 1, "max_value": ROW_MAX}),
     "soda": f"row_count between 1 and {ROW_MAX}",
     "count": {"assess": "rows", "gx": "rows", "soda": "rows"}},
    {"id": "interaction_id_not_null", "kind": "not_null interaction_id",
     "gx": ("ExpectColumnValuesToNotBeNull", {"column": "interaction_id"}),
     "soda": "missing_count(interaction_id) = 0",
     "count": {"assess": "id_null", "gx": "id_null", "soda": "id_null"}},
    {"id": "channel_not_null", "kind": "not_null channel",
     "gx": ("ExpectColumnValuesToNotBeNull", {"column": "channel"}),
     "soda": "missing_count(channel) = 0",
     "count": {"assess": "channel_null", "gx": "channel_null", "soda": "channel_null"}},
    {"id": "satisfaction_not_null", "kind": "not_null satisfaction",
     "gx": ("ExpectColumnValuesToNotBeNull", {"column": "satisfaction"}),
     "soda": "missing_count(satisfaction) = 0",
     "count": {"assess": "sat_null", "gx": "sat_null", "soda": "sat_null"}},
    {"id": "interaction_id_unique", "kind": "unique interaction_id",
     "gx": ("ExpectColumnValuesToBeUnique", {"column": "interaction_id"}),
     "soda": "duplicate_count(interaction_id) = 0",
     "count": {"assess": "dup_rows_beyond_first", "gx": "dup_rows_in_groups", "soda": "dup_values"}},
    {"id": "channel_allowed", "kind": "allowed_values channel",
     "gx": ("ExpectColumnValuesToBeInSet", {"column": "channel", "value_set": CHANNELS}),
     "soda": {"invalid_count(channel) = 0": {"valid values": CHANNELS}},
     "count": {"assess": "channel_bad", "gx": "channel_bad", "soda": "channel_bad"}},
    {"id": "kind_allowed", "kind": "allowed_values kind",
     "gx": ("ExpectColumnValuesToBeInSet", {"column": "kind", "value_set": KINDS}),
     "soda": {"invalid_count(kind) = 0": {"valid values": KINDS}},
     "count": {"assess": "kind_bad", "gx": "kind_bad", "soda": "kind_bad"}},
    {"id": "satisfaction_range", "kind": "range satisfaction 1..5",
     "gx": ("ExpectColumnValuesToBeBetween", {"column": "satisfaction", "min_value": 1, "max_value": 5}),
     "soda": {"invalid_count(satisfaction) = 0": {"valid min": 1, "valid max": 5}},
     "count": {"assess": "sat_out", "gx": "sat_out", "soda": "sat_out"}},
    {"id": "customer_id_format", "kind": f"matches customer_id {CUSTOMER_ID_REGEX}",
     "gx": ("ExpectColumnValuesToMatchRegex", {"column": "customer_id", "regex": f"^{CUSTOMER_ID_REGEX}$"}),
     "soda": {"invalid_count(customer_id) = 0": {"valid regex": f"^{CUSTOMER_ID_REGEX}$"}},
     "count": {"assess": "cid_bad", "gx": "cid_bad", "soda": "cid_bad"}},
    {"id": "resolved_after_opened", "kind": "consistency resolved_at >= opened_at",
     "gx": ("ExpectColumnPairValuesAToBeGreaterThanB",
            {"column_A": "resolved_at", "column_B": "opened_at", "or_equal": True,
             "ignore_row_if": "either_value_is_missing"}),
     "soda": {"failed rows": {"fail condition": "resolved_at < opened_at"}},
     "count": {"assess": "resolved_before", "gx": "resolved_before", "soda": "resolved_before"}},
]

TOOLS = ("assess", "gx", "soda", "soda_table", "assess_streaming", "assess_duckdb", "assess_spark")
DEFAULT_TOOLS = TOOLS[:4]
TOOL_NAMES = {"assess": "assess", "assess_streaming": "assess --engine streaming",
              "assess_duckdb": "assess --engine duckdb", "assess_spark": "assess --engine spark (local[2])",
              "gx": "Great Expectations (pandas)",
              "soda": "Soda Core (DuckDB view on the Parquet file)",
              "soda_table": "Soda Core (DuckDB table loaded from the file)"}


def count_of(rule: dict, tool: str) -> str:
    """The reference count that ``tool`` reports for ``rule``."""
    return rule["count"][tool.split("_")[0]]


# ---------------------------------------------------------------------------- data

def make_data(args: argparse.Namespace) -> pathlib.Path:
    """The sample data (made once) and the benchmark's copy of interactions with defects."""
    root = pathlib.Path(args.data_root)
    sample = sample_data(args.assess, root, args.customers, args.seed)
    data = root / f"dq-c{args.customers}-s{args.seed}-d{args.defect_rate:g}"
    target = data / "interactions.parquet"
    if not target.exists():
        print(f"injecting defects into {target} ...", flush=True)
        data.mkdir(parents=True, exist_ok=True)
        frame = inject_defects(sample / "interactions.parquet", args.defect_rate, args.seed)
        tmp = data / "interactions.parquet.tmp"
        frame.write_parquet(tmp, compression="zstd", statistics=True)
        tmp.rename(target)
    return data


def sample_data(assess: str, root: pathlib.Path, customers: int, seed: int) -> pathlib.Path:
    """The sample CRM as Parquet files in ROOT/sample-c<customers>-s<seed>, made once."""
    sample = root / f"sample-c{customers}-s{seed}"
    if not (sample / "interactions.parquet").exists():
        print(f"making sample data in {sample} ...", flush=True)
        t = time.perf_counter()
        subprocess.run([assess, "sample-data", "--out", str(sample), "--customers", str(customers),
                        "--seed", str(seed), "--format", "parquet"], check=True, stdout=subprocess.DEVNULL)
        print(f"  {time.perf_counter() - t:.1f} s", flush=True)
    return sample


def inject_defects(path: pathlib.Path, rate: float, seed: int):
    """Deterministic defects, each on about `rate` of the rows (independently drawn)."""
    import numpy as np
    import polars as pl

    df = pl.read_parquet(path)
    m = df.height
    rng = np.random.default_rng(seed + 1000)

    def mask(share: float) -> pl.Series:
        return pl.Series(rng.random(m) < share)

    # Duplicate ids: a row takes the id of a random row (pairs, a few triples).
    ids = df["interaction_id"].to_numpy().copy()
    dup = rng.random(m) < rate
    ids[dup] = ids[rng.integers(0, m, int(dup.sum()))]
    ids = pl.Series("interaction_id", ids, dtype=pl.String)
    id_null = mask(rate / 10)
    # Malformed customer ids: lower-case prefix, a trailing letter, empty, a leading space.
    cid_bad = rng.random(m) < rate
    how = rng.integers(0, 4, m)
    cid = pl.col("customer_id")
    return df.with_columns(
        interaction_id=pl.when(id_null).then(None).otherwise(pl.lit(ids)),
        channel=pl.when(mask(rate)).then(pl.lit("fax"))
        .when(mask(rate / 2)).then(pl.lit("Phone"))
        .when(mask(rate / 2)).then(None)
        .otherwise(pl.col("channel")),
        kind=pl.when(mask(rate)).then(pl.lit("refund")).otherwise(pl.col("kind")),
        satisfaction=pl.when(mask(rate)).then(pl.lit(0, pl.Int64))
        .when(mask(rate / 2)).then(pl.lit(6, pl.Int64))
        .otherwise(pl.col("satisfaction")),
        customer_id=pl.when(pl.Series(cid_bad & (how == 0))).then(pl.lit("c") + cid.str.slice(1))
        .when(pl.Series(cid_bad & (how == 1))).then(cid + pl.lit("X"))
        .when(pl.Series(cid_bad & (how == 2))).then(pl.lit(""))
        .when(pl.Series(cid_bad & (how == 3))).then(pl.lit(" ") + cid)
        .otherwise(cid),
        resolved_at=pl.when(mask(rate)).then(pl.col("opened_at") - pl.duration(hours=1))
        .otherwise(pl.col("resolved_at")),
    )


def reference_counts(data: pathlib.Path) -> dict[str, int]:
    """Every count, computed directly with Polars and PyArrow (RE2 for the regex)."""
    import polars as pl
    import pyarrow.compute as pc

    df = pl.read_parquet(data / "interactions.parquet")
    ids = df["interaction_id"].drop_nulls()
    counts = ids.value_counts()["count"]
    cid = df["customer_id"].drop_nulls().to_arrow()
    full = pc.match_substring_regex(cid, f"^{CUSTOMER_ID_REGEX}$")
    both = df.filter(pl.col("resolved_at").is_not_null() & pl.col("opened_at").is_not_null())
    sat = df["satisfaction"].drop_nulls()
    return {
        "rows": df.height,
        "id_null": df["interaction_id"].null_count(),
        "channel_null": df["channel"].null_count(),
        "sat_null": df["satisfaction"].null_count(),
        "dup_rows_beyond_first": int((counts - 1).sum()),
        "dup_rows_in_groups": int(counts.filter(counts > 1).sum()),
        "dup_values": int((counts > 1).sum()),
        "dup_groups_of_3_or_more": int((counts > 2).sum()),
        "channel_bad": int((~df["channel"].drop_nulls().is_in(CHANNELS)).sum()),
        "kind_bad": int((~df["kind"].drop_nulls().is_in(KINDS)).sum()),
        "sat_out": int(((sat < 1) | (sat > 5)).sum()),
        "cid_bad": int(len(full) - pc.sum(full).as_py()),
        "resolved_before": int((both["resolved_at"] < both["opened_at"]).sum()),
    }


# ---------------------------------------------------------------------------- workers
# Each runs in a child process and writes {"counts": {rule: n}, "phases": {...}} to --out.

def gx_counts(data: pathlib.Path, table: str, name: str, expectations: list[tuple[str, str, dict]]) -> dict:
    """Great Expectations on pandas: ``table``.parquet read into a DataFrame, one suite of
    ``expectations`` (id, class name, keyword arguments), each one's unexpected count (its
    observed value for a table-level expectation). Shared with cuallee_compare.py."""
    t0 = time.perf_counter()
    import great_expectations as gx
    import pandas as pd
    from great_expectations.data_context.types.base import ProgressBarsConfig
    t1 = time.perf_counter()
    df = pd.read_parquet(data / f"{table}.parquet")
    t2 = time.perf_counter()
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (context.data_sources.add_pandas("bench").add_dataframe_asset(table)
             .add_batch_definition_whole_dataframe("all"))
    suite = context.suites.add(gx.ExpectationSuite(name=name))
    for rid, cls, kwargs in expectations:
        suite.add_expectation(getattr(gx.expectations, cls)(**kwargs, meta={"rule": rid}))
    definition = context.validation_definitions.add(gx.ValidationDefinition(data=batch, suite=suite, name=name))
    result = definition.run(batch_parameters={"dataframe": df}, result_format="BASIC")
    t3 = time.perf_counter()
    counts = {}
    for r in result.results:
        rid = r.expectation_config.meta["rule"]
        if r.exception_info and r.exception_info.get("raised_exception"):
            raise RuntimeError(f"GX raised on {rid}: {r.exception_info}")
        counts[rid] = r.result["unexpected_count"] if "unexpected_count" in r.result else r.result["observed_value"]
    return {"counts": counts, "rows": len(df), "phases": {"import": t1 - t0, "load": t2 - t1, "validate": t3 - t2}}


def worker_gx(data: pathlib.Path) -> dict:
    return gx_counts(data, "interactions", "dq_bench", [(r["id"], *r["gx"]) for r in RULES])


def soda_checks_yaml() -> str:
    import yaml
    checks = []
    for rule in RULES:
        check = rule["soda"]
        if isinstance(check, str):
            checks.append({check: {"name": rule["id"]}})
        else:
            ((head, config),) = check.items()
            checks.append({head: {"name": rule["id"], **config}})
    return yaml.safe_dump({"checks for interactions": checks}, sort_keys=False)


def soda_counts(data: pathlib.Path, table: str, name: str, checks: str, load: bool = False) -> dict:
    """Soda Core on DuckDB: ``table``.parquet behind a view (or loaded into a table with
    ``load``), one scan of the SodaCL ``checks``, each check's value by its name. Shared
    with cuallee_compare.py."""
    t0 = time.perf_counter()
    # Soda Core sends anonymous usage statistics unless its config says not to; there is
    # no network here, so point it at a config that turns them off (not ~/.soda).
    config = pathlib.Path(tempfile.mkdtemp()) / "config.yml"
    config.write_text("send_anonymous_usage_stats: false\n")
    from soda.common.config_helper import ConfigHelper
    ConfigHelper.get_instance(str(config))
    import duckdb
    from soda.scan import Scan
    t1 = time.perf_counter()
    con = duckdb.connect()
    parquet = str(data / f"{table}.parquet").replace("'", "''")
    # A view reads the file inside every query; a table reads it once, into memory.
    con.execute(f"CREATE {'TABLE' if load else 'VIEW'} {table} AS SELECT * FROM read_parquet('{parquet}')")
    t2 = time.perf_counter()
    scan = Scan()
    scan.set_scan_definition_name(name)
    scan.set_data_source_name("bench")
    scan.add_duckdb_connection(con, data_source_name="bench")
    scan.add_sodacl_yaml_str(checks)
    scan.execute()
    t3 = time.perf_counter()
    if scan.has_error_logs():
        raise RuntimeError("Soda logged errors:\n" + scan.get_error_logs_text())
    counts = {}
    for check in scan.get_scan_results()["checks"]:
        if check["outcome"] is None:
            raise RuntimeError(f"Soda did not evaluate {check['name']}")
        counts[check["name"]] = int(check["diagnostics"]["value"])
    queries = len(getattr(scan, "_queries", []))  # how many queries Soda ran (not its public API)
    shutil.rmtree(config.parent, ignore_errors=True)
    return {"counts": counts, "queries": queries,
            "phases": {"import": t1 - t0, "load": t2 - t1, "validate": t3 - t2}}


def worker_soda(data: pathlib.Path, table: bool = False) -> dict:
    return soda_counts(data, "interactions", "dq_bench", soda_checks_yaml(), load=table)


# ---------------------------------------------------------------------------- harness

# The child is started by a small launcher process, not by this one: Linux carries a
# process's peak RSS across exec, so a child forked from this process (which holds the
# reference data) would report at least this process's RSS. The launcher is a subreaper:
# a process the child leaves behind (Spark's JVM, which PySpark starts and never waits
# for; it exits when the child does) becomes the launcher's, which waits for it and counts
# its CPU and peak RSS apart ("cpu_left", "rss_left_kib"; "cpu" is the sum).
LAUNCHER = r"""
import ctypes, json, os, subprocess, sys, time
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
start = time.perf_counter()
proc = subprocess.Popen(sys.argv[2:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(proc.pid, 0)
wall = time.perf_counter() - start
left = []
while True:
    try:
        left.append(os.wait4(-1, 0)[2])
    except ChildProcessError:
        break
cpu_left = sum(u.ru_utime + u.ru_stime for u in left)
with open(sys.argv[1], "w") as f:
    json.dump({"wall": wall, "cpu": usage.ru_utime + usage.ru_stime + cpu_left, "cpu_child": usage.ru_utime
               + usage.ru_stime, "cpu_left": cpu_left, "rss_kib": usage.ru_maxrss,
               "rss_left_kib": max((u.ru_maxrss for u in left), default=0),
               "code": os.waitstatus_to_exitcode(status)}, f)
"""


def run_child(cmd: list[str], env: dict | None = None, lock: str = "") -> tuple[dict, str]:
    """({wall, cpu seconds, rss_kib, code, ...}, stderr) of one child process; with `lock`,
    timed while holding that file's lock (`flock LOCK ...`), so that no one else's timed run
    shares the machine."""
    err = tempfile.TemporaryFile()
    fd, stats = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    subprocess.run([*(["flock", lock] if lock else []), sys.executable, "-I", "-S", "-c", LAUNCHER, stats, *cmd],
                   stdout=subprocess.DEVNULL, stderr=err, env=env, check=True)
    got = json.loads(pathlib.Path(stats).read_text())
    os.unlink(stats)
    err.seek(0)
    return got, err.read().decode(errors="replace")


def idle_share(seconds: float = 1.0) -> float:
    """The share of CPU time the machine spent idle over the next ``seconds``."""
    def sample() -> tuple[int, int]:
        fields = [int(x) for x in pathlib.Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return fields[3] + fields[4], sum(fields[:8])  # idle + iowait, total
    try:
        idle0, total0 = sample()
        time.sleep(seconds)
        idle1, total1 = sample()
    except (OSError, ValueError, IndexError):
        return 1.0
    return (idle1 - idle0) / max(total1 - total0, 1)


def wait_for_idle(limit: float) -> float:
    """Wait (up to ``limit`` seconds) until the machine is at least 90% idle, so that a run
    does not share the cores with someone else's work; the idle share last seen."""
    deadline = time.monotonic() + limit
    while True:
        idle = idle_share()
        if idle >= 0.9 or time.monotonic() >= deadline:
            return idle


def run_tool(tool: str, data: pathlib.Path, args: argparse.Namespace) -> dict:
    out = pathlib.Path(tempfile.mkstemp(suffix=".json")[1])
    env = dict(os.environ, GX_ANALYTICS_ENABLED="false")
    if tool.startswith("assess"):
        cmd = [args.assess, "run", str(RULESET), "--data", str(data), "--format", "json", "--out", str(out)]
        if tool != "assess":  # assess_streaming, assess_duckdb, assess_spark: the engine after the underscore
            cmd += ["--engine", tool.split("_", 1)[1]]
    else:
        cmd = [sys.executable, str(pathlib.Path(__file__).resolve()), "--worker", tool,
               "--data", str(data), "--out", str(out)]
    idle = wait_for_idle(args.idle_wait)
    load = os.getloadavg()[0]
    got, stderr = run_child(cmd, env)
    if got["code"] != 0:
        raise SystemExit(f"{tool} exited {got['code']}:\n{stderr[-4000:]}")
    result = json.loads(out.read_text())
    out.unlink()
    if tool.startswith("assess"):
        counts = {c["id"]: (c["observed"] if c["rule"] == "row_count" else c["failed"]) for c in result["checks"]}
        phases = {}
    else:
        counts, phases = result["counts"], result["phases"]
    return {"tool": tool, "wall": got["wall"], "cpu": got["cpu"], "rss_kib": got["rss_kib"], "load1": load,
            "idle_before": idle, "queries": result.get("queries"),  # assess counts its own; Soda's from its scan
            "counts": counts, "phases": phases}


def check_agreement(run: dict, reference: dict[str, int]) -> list[str]:
    problems = []
    for rule in RULES:
        want = reference[count_of(rule, run["tool"])]
        got = run["counts"].get(rule["id"])
        if got != want:
            problems.append(f"{run['tool']}: rule {rule['id']} counted {got}, the reference "
                            f"({count_of(rule, run['tool'])}) is {want}")
    return problems


def machine() -> dict:
    info = {"date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "platform": platform.platform(), "cores": os.cpu_count()}
    try:
        cpu = pathlib.Path("/proc/cpuinfo").read_text()
        info["cpu"] = next(line.split(":", 1)[1].strip() for line in cpu.splitlines()
                           if line.startswith("model name"))
    except (OSError, StopIteration):
        info["cpu"] = platform.processor()
    try:
        mem = pathlib.Path("/proc/meminfo").read_text().splitlines()[0].split()
        info["ram_gib"] = round(int(mem[1]) / 1024 ** 2, 1)
    except (OSError, IndexError, ValueError):
        pass
    return info


def versions(args: argparse.Namespace) -> dict:
    from importlib.metadata import version, PackageNotFoundError
    out = {"python (peers)": platform.python_version()}
    for pkg in ("great_expectations", "soda-core", "soda-core-duckdb", "duckdb", "pandas", "pyarrow",
                "polars", "numpy"):
        try:
            out[f"{pkg} (peers)"] = version(pkg)
        except PackageNotFoundError:
            out[f"{pkg} (peers)"] = None
    out["assess"] = subprocess.run([args.assess, "--version"], capture_output=True, text=True).stdout.strip()
    shebang = pathlib.Path(shutil.which(args.assess) or args.assess).read_text().splitlines()[0]
    if shebang.startswith("#!"):
        py = shebang[2:].strip()
        probe = ("import platform, polars, numpy; "
                 "print(platform.python_version(), polars.__version__, numpy.__version__)")
        got = subprocess.run([py, "-c", probe], capture_output=True, text=True, cwd="/").stdout.split()
        if len(got) == 3:
            out["python (assess)"], out["polars (assess)"], out["numpy (assess)"] = got
        where = subprocess.run([py, "-c", "import engine; print(engine.__file__)"], capture_output=True,
                               text=True, cwd="/").stdout.strip()
        out["assess engine"] = where
        if where.startswith(str(REPO)):  # an editable install: the work tree as it is now
            head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True)
            dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "engine"],
                                   capture_output=True, text=True)
            out["assess commit"] = head.stdout.strip() + (" (engine/ modified)" if dirty.stdout.strip() else "")
    if args.label:
        out["label"] = args.label
    return out


def mib(kib: float) -> str:
    return f"{kib / 1024:,.0f}"


def report(results: dict) -> str:
    runs = results["runs"]
    lines = [f"Data: {results['rows']:,} interaction rows ({results['parquet_mib']:.0f} MiB Parquet), "
             f"{len(RULES)} rules, {results['args']['runs']} timed runs per tool (median).", "",
             "| tool | wall, median (s) | wall, min..max (s) | CPU user+sys, median (s) "
             "| peak RSS, median (MiB) | assess is faster by (wall) |",
             "|---|---:|---:|---:|---:|---:|"]
    med = {}
    for tool in results["tools"]:
        walls = [r["wall"] for r in runs if r["tool"] == tool]
        rss = [r["rss_kib"] for r in runs if r["tool"] == tool]
        cpu = [r["cpu"] for r in runs if r["tool"] == tool]
        med[tool] = statistics.median(walls)
        speed = "" if tool == "assess" or "assess" not in med else f"{med[tool] / med['assess']:.1f}x"
        lines.append(f"| {TOOL_NAMES[tool]} | {med[tool]:.2f} | {min(walls):.2f}..{max(walls):.2f} | "
                     f"{statistics.median(cpu):.2f} | "
                     f"{mib(statistics.median(rss))} | {speed} |")
    lines += ["", "Queries per run (assess: the result's `queries`; Soda: its scan's): " + ", ".join(
        f"{TOOL_NAMES[t]} {next(r['queries'] for r in runs if r['tool'] == t)}" for t in results["tools"]
        if next(r["queries"] for r in runs if r["tool"] == t) is not None)]
    phases = [t for t in results["tools"] if not t.startswith("assess")]
    if phases:
        lines += ["", "Phases inside the peers' processes (median s): import, load, validate",
                  ""]
        for tool in phases:
            ph = [r["phases"] for r in runs if r["tool"] == tool]
            lines.append(f"- {TOOL_NAMES[tool]}: " + ", ".join(
                f"{k} {statistics.median(p[k] for p in ph):.2f}" for k in ("import", "load", "validate")))
    ref = results["reference"]
    lines += ["", "| rule | reference | " + " | ".join(TOOL_NAMES[t] for t in results["tools"]) + " |",
              "|---|---:|" + "---:|" * len(results["tools"])]
    first = {t: next(r for r in runs if r["tool"] == t) for t in results["tools"]}
    for rule in RULES:
        cells = []
        for tool in results["tools"]:
            got = first[tool]["counts"][rule["id"]]
            key = count_of(rule, tool)
            cells.append(f"{got:,}" + ("" if key == rule["count"]["assess"] else f" ({key})"))
        lines.append(f"| `{rule['id']}`: {rule['kind']} | {ref[rule['count']['assess']]:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


ABLATIONS = {
    "as shipped": lambda r: r,
    "evidence off (settings.samples: 0)": lambda r: {**r, "settings": {"samples": 0}},
    "without interaction_id_unique": lambda r: {**r, "checks": [c for c in r["checks"]
                                                                if c["id"] != "interaction_id_unique"]},
    "without it, evidence off": lambda r: {**r, "settings": {"samples": 0},
                                           "checks": [c for c in r["checks"] if c["id"] != "interaction_id_unique"]},
}


def ablation(data: pathlib.Path, args: argparse.Namespace) -> str:
    """assess alone on variants of the ruleset: what the evidence pass and the unique rule cost."""
    import yaml
    base = yaml.safe_load(RULESET.read_text())
    folder = pathlib.Path(tempfile.mkdtemp())
    paths = {}
    for i, (name, change) in enumerate(ABLATIONS.items()):
        paths[name] = folder / f"variant{i}.yaml"
        paths[name].write_text(yaml.safe_dump(change(base), sort_keys=False, allow_unicode=True))
    got: dict[str, list[dict]] = {name: [] for name in paths}
    for round_ in range(args.runs + 1):
        for name, path in paths.items():
            out = folder / "out.json"
            wait_for_idle(args.idle_wait)
            stats, stderr = run_child([args.assess, "run", str(path), "--data", str(data), "--format", "json",
                                       "--out", str(out)])
            if stats["code"] != 0:
                raise SystemExit(f"assess exited {stats['code']} on {name}:\n{stderr[-4000:]}")
            print(f"round {round_} {name:40s} {stats['wall']:6.2f} s wall {stats['cpu']:6.2f} s cpu "
                  f"{mib(stats['rss_kib']):>6s} MiB", flush=True)
            if round_:
                got[name].append(stats)
    shutil.rmtree(folder, ignore_errors=True)
    lines = ["| assess on bench/dq_rules.yaml | wall, median (s) | CPU user+sys, median (s) | peak RSS, median (MiB) |",
             "|---|---:|---:|---:|"]
    for name, runs in got.items():
        lines.append(f"| {name} | {statistics.median(r['wall'] for r in runs):.2f} | "
                     f"{statistics.median(r['cpu'] for r in runs):.2f} | "
                     f"{mib(statistics.median(r['rss_kib'] for r in runs))} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_250_000,
                        help="customers in the sample data (interactions are about 8 per customer)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--defect-rate", type=float, default=0.001,
                        help="share of rows hit by each injected defect (default 0.001)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per tool (default 5)")
    parser.add_argument("--tools", default=",".join(DEFAULT_TOOLS),
                        help=f"comma-separated, of: {','.join(TOOLS)} (default {','.join(DEFAULT_TOOLS)})")
    parser.add_argument("--assess", default=shutil.which("assess") or str(REPO / ".venv" / "bin" / "assess"),
                        help="the assess command (default: on PATH, else .venv/bin/assess)")
    parser.add_argument("--data-root", default=str(pathlib.Path(tempfile.gettempdir()) / "assess-bench"),
                        help="where the data is made and kept between runs")
    parser.add_argument("--label", help="a note kept with the results, e.g. the commit assess was installed from")
    parser.add_argument("--json", help="write the results here (default bench/results/dq_compare-c<N>.json)")
    parser.add_argument("--idle-wait", type=float, default=120,
                        help="before each run, wait up to this many seconds for the machine to be "
                             "90%% idle (default 120; 0 to not wait)")
    parser.add_argument("--ablation", action="store_true",
                        help="time assess alone on variants of the ruleset (evidence off, no unique rule)")
    parser.add_argument("--worker", choices=("gx", "soda", "soda_table"), help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        fn = {"gx": worker_gx, "soda": worker_soda,
              "soda_table": lambda data: worker_soda(data, table=True)}[args.worker]
        pathlib.Path(args.out).write_text(json.dumps(fn(pathlib.Path(args.data))))
        return 0

    tools = [t for t in args.tools.split(",") if t]
    if unknown := set(tools) - set(TOOLS):
        parser.error(f"unknown tools: {', '.join(sorted(unknown))}")
    data = make_data(args)
    if args.ablation:
        print("\n" + ablation(data, args))
        return 0
    print("reference counts ...", flush=True)
    reference = reference_counts(data)
    print(json.dumps(reference), flush=True)

    runs, problems = [], []
    for round_ in range(args.runs + 1):  # round 0 warms the page cache and is not kept
        order = tools[round_ % len(tools):] + tools[:round_ % len(tools)]
        for tool in order:
            run = run_tool(tool, data, args)
            run["round"] = round_
            print(f"round {round_} {tool:16s} {run['wall']:7.2f} s wall {run['cpu']:7.2f} s cpu "
                  f"{mib(run['rss_kib']):>7s} MiB  idle before {run['idle_before']:.0%}  "
                  + " ".join(f"{k}={v:.2f}" for k, v in run["phases"].items()), flush=True)
            problems += check_agreement(run, reference)
            if round_:
                runs.append(run)
        if problems:
            break

    results = {"machine": machine(), "versions": versions(args), "args": vars(args), "tools": tools,
               "rows": reference["rows"],
               "parquet_mib": (data / "interactions.parquet").stat().st_size / 2 ** 20,
               "reference": reference, "runs": runs, "problems": problems}
    out = pathlib.Path(args.json or HERE / "results" / f"dq_compare-c{args.customers}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, default=str))
    if problems:
        print("\nTHE TOOLS DISAGREE:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    print()
    print(report(results))
    print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
