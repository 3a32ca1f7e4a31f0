#!/usr/bin/env python3
"""Engine benchmark: `assess run` against the same computations in hand-written Polars.

Issue "Performance: within 1.25x of hand-written Polars, bounded memory". Run it from the
repository root with the project's environment (Polars, `assess` on PATH or --assess):

    python bench/run.py                         # everything below: about 15 minutes
    python bench/run.py --steps profile         # pyinstrument and query plans (1 minute)
    python bench/run.py --steps timing --sizes 125000 --runs 3   # a quick try

Steps (--steps, comma-separated; default all but `profile`):

- data: makes (or reuses) Parquet exports under --data-root (default /tmp/bench-data):
  `assess sample-data --customers N --format parquet` for each of --sizes (125,000
  customers give 999,062 interaction rows, "1M"; 1,250,000 give 10,000,792, "10M";
  about 20 s and 1.6 GB of RAM for the larger), and `i10x/`: the 10M interactions
  repeated --copies times (10: 100,007,920 rows, 1.1 GB) with the ids made unique again,
  written by a lazy `sink_parquet` (20 s, 0.6 GB of RAM), beside hard links to the 10M
  export's other tables (a symlink would be refused: it points out of --data).
- timing: for each size, `assess run bench/engine_rules.yaml --data DIR --format json
  --out FILE` against `python bench/hand.py --data DIR --out FILE` (the same numbers in
  plain Polars), each in a fresh process, one warm-up round then --runs rounds, A B A B
  ... Wall clock, CPU and peak RSS of each run come from bench/launch.py (os.wait4 of a
  child it forks). Every run, warm-up included, is checked: every KPI value overall and
  per owner, every rule's rows, failed count, status and failing-row samples, and every
  source's row count must agree (floats to 1e-9 relative); a mismatch stops the
  benchmark (exit 1).
- ablation: the same pairs (--ablation-runs rounds) with no failing-row samples
  (`settings: {samples: 0}` and `hand.py --samples 0`), and on Polars' in-memory engine
  (`--engine in-memory` for both; `auto`, the default, is Polars' streaming engine).
- validate: `assess validate rulesets/` wall time (--runs runs after the warm-up), the
  same inside one process, and whether it imports Polars (a child runs the CLI's main
  and looks at sys.modules).
- formats: on the smallest size, `assess run --format F --out FILE` for json, md, html
  and xlsx, --runs rounds in a rotating order; the extra median wall over json; and the
  render call alone, timed in one process on one result.
- stream: `--engine streaming` on i10x (100M interaction rows), assess and hand,
  --stream-runs rounds, peak RSS against --memory-goal (4 GiB), results checked against
  each other; for the benchmark ruleset and for its streamable variant (UNSTREAMABLE
  left out). A run passing --rss-cap-gib (default 80% of RAM) is killed and reported as
  stopped at the cap, so the machine never reaches the OOM killer.
- profile: pyinstrument of one 10M run of assess and of hand.py, and the optimized plans
  of both's queries (`explain_all`), written under --data-root/profile.

Results: a Markdown summary on stdout and everything (every run) in --json (default
--data-root/engine-bench.json); bench/ENGINE.md reports them. The machine may be shared:
before each run the harness waits (up to --idle-wait seconds) for the CPUs to be 90%
idle, and a round during which other processes took more than --max-foreign of the
CPUs (measured by launch.py from /proc/stat) is run again, up to --retries times.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RULESET = HERE / "engine_rules.yaml"
LAUNCH = HERE / "launch.py"
HAND = HERE / "hand.py"
FORMATS = ("json", "md", "html", "xlsx")
GIB = 1024 ** 3


# -- machine -----------------------------------------------------------------------------

def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem_kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal"))
    versions = subprocess.run([sys.executable, "-c", ("import polars, numpy, engine; "
                               "print(polars.__version__, numpy.__version__, engine.__version__)")],
                              capture_output=True, text=True, check=True).stdout.split()
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gib": round(mem_kib / 1024 ** 2, 1),
            "kernel": platform.release(), "python": platform.python_version(),
            "polars": versions[0], "numpy": versions[1], "assess": versions[2],
            "date": dt.datetime.now().isoformat(timespec="seconds"),
            "polars_env": {k: v for k, v in os.environ.items() if k.startswith("POLARS_")}}


def machine_ram_gib() -> float:
    kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
               if line.startswith("MemTotal"))
    return kib / 1024 ** 2


def _cpu_times() -> tuple[int, int]:
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields), fields[3] + fields[4]  # total, idle + iowait


def idle_share(seconds: float = 1.0) -> float:
    t0, i0 = _cpu_times()
    time.sleep(seconds)
    t1, i1 = _cpu_times()
    return (i1 - i0) / max(t1 - t0, 1)


def wait_idle(limit: float) -> float:
    """Wait up to ``limit`` seconds for the machine to be 90% idle; the idle share seen."""
    deadline = time.monotonic() + limit
    share = idle_share()
    while share < 0.9 and time.monotonic() < deadline:
        share = idle_share(2.0)
    return share


# -- running -----------------------------------------------------------------------------

def launch(cmd: list[str], idle_wait: float, cap_mib: float | None = None) -> dict[str, Any]:
    """Run ``cmd`` through bench/launch.py: wall, user, sys, maxrss_kib, rc, foreign_cpu,
    capped (killed on passing ``cap_mib`` of resident memory), stderr."""
    idle = wait_idle(idle_wait)
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = f.name
    cap = ["--cap-mib", str(cap_mib)] if cap_mib else []
    try:
        subprocess.run([sys.executable, str(LAUNCH), out, *cap, "--", *cmd], check=True)
        result = json.loads(Path(out).read_text())
    finally:
        Path(out).unlink(missing_ok=True)
    result["idle_before"] = round(idle, 3)
    return result


def assess_cmd(args: argparse.Namespace) -> list[str]:
    return [args.assess] if os.sep in args.assess else [shutil.which(args.assess) or args.assess]


def engine_run(args: argparse.Namespace, data: Path, out: Path, ruleset: Path = RULESET,
               fmt: str = "json", engine: str | None = None) -> list[str]:
    cmd = [*assess_cmd(args), "run", str(ruleset), "--data", str(data), "--format", fmt, "--out", str(out)]
    return cmd + (["--engine", engine] if engine else [])


def hand_run(data: Path, out: Path, engine: str | None = None, samples: int | None = None) -> list[str]:
    cmd = [sys.executable, str(HAND), "--data", str(data), "--out", str(out)]
    cmd += ["--engine", engine] if engine else []
    return cmd + (["--samples", str(samples)] if samples is not None else [])


# -- agreement ---------------------------------------------------------------------------

def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def disagreements(engine_json: Path, hand_json: Path, samples: bool = True) -> list[str]:
    """Every KPI value (overall and per entity) and every rule's rows, failed count,
    status and samples of `assess run --format json` against bench/hand.py's output."""
    e = json.loads(engine_json.read_text())
    h = json.loads(hand_json.read_text())
    out = []
    if {k["id"] for k in e["kpis"]} != set(h["kpis"]):
        out.append(f"KPI ids differ: {sorted({k['id'] for k in e['kpis']} ^ set(h['kpis']))}")
    for k in e["kpis"]:
        if not _close(k["value"], h["kpis"].get(k["id"])):
            out.append(f"KPI {k['id']}: assess {k['value']!r}, hand {h['kpis'].get(k['id'])!r}")
    if sorted(x["id"] for x in e["entities"]) != sorted(h["entities"]):
        out.append(f"entities differ: {sorted(x['id'] for x in e['entities'])} vs {sorted(h['entities'])}")
    for ent in e["entities"]:
        theirs = h["entities"].get(ent["id"], {})
        for k in ent["kpis"]:
            if not _close(k["value"], theirs.get(k["id"])):
                out.append(f"KPI {k['id']} of {ent['id']}: assess {k['value']!r}, hand {theirs.get(k['id'])!r}")
    if [c["id"] for c in e["checks"]] != list(h["checks"]):
        out.append("rule ids differ")
    for c in e["checks"]:
        mine = h["checks"].get(c["id"], {})
        for key in ("rows", "failed", "status") + (("samples",) if samples else ()):
            if c[key] != mine.get(key):
                out.append(f"rule {c['id']} {key}: assess {str(c[key])[:200]}, hand {str(mine.get(key))[:200]}")
    counts = {s["name"]: s["rows"] for s in e["sources"]}
    if counts != h["rows"]:
        out.append(f"source rows: assess {counts}, hand {h['rows']}")
    return out


def agree(engine_json: Path, hand_json: Path, what: str, samples: bool = True) -> None:
    problems = disagreements(engine_json, hand_json, samples)
    if problems:
        print(f"\nDISAGREEMENT ({what}):\n  " + "\n  ".join(problems[:40]), file=sys.stderr)
        sys.exit(1)


# -- data --------------------------------------------------------------------------------

def label(customers: int) -> str:
    rows = customers * 8
    return f"{rows / 1e6:g}M" if rows >= 1e6 else f"{rows / 1e3:g}k"


def make_sample(args: argparse.Namespace, customers: int) -> Path:
    folder = Path(args.data_root) / f"c{customers}"
    if not (folder / ".done").exists():
        print(f"making {folder} ...", file=sys.stderr)
        subprocess.run([*assess_cmd(args), "sample-data", "--out", str(folder), "--customers", str(customers),
                        "--format", "parquet"], check=True)
        (folder / ".done").write_text("")
    return folder


MAKE_100M = """
import sys, polars as pl
src, out, copies = sys.argv[1], sys.argv[2], int(sys.argv[3])
# each copy's ids get the copy's digit after the I, so every interaction_id stays unique
parts = [pl.scan_parquet(src).with_columns((pl.lit(f"I{k}") + pl.col("interaction_id").str.slice(1))
                                            .alias("interaction_id")) for k in range(copies)]
pl.concat(parts).sink_parquet(out)
"""


def make_100m(args: argparse.Namespace, base: Path) -> Path:
    """The base export's interactions repeated --copies times, other tables hard-linked."""
    folder = Path(args.data_root) / f"i{args.copies}x"
    if (folder / ".done").exists():
        return folder
    print(f"making {folder} ({args.copies} copies of {base / 'interactions.parquet'}) ...", file=sys.stderr)
    folder.mkdir(parents=True, exist_ok=True)
    for f in base.glob("*.parquet"):
        if f.name != "interactions.parquet":
            target = folder / f.name
            target.unlink(missing_ok=True)
            try:
                os.link(f, target)  # a hard link, not a symlink: assess refuses links out of --data
            except OSError:
                shutil.copy2(f, target)
    tmp = folder / ".interactions.parquet.tmp"
    subprocess.run([sys.executable, "-c", MAKE_100M, str(base / "interactions.parquet"), str(tmp),
                    str(args.copies)], check=True)
    tmp.rename(folder / "interactions.parquet")
    (folder / ".done").write_text("")
    return folder


def no_samples_ruleset(args: argparse.Namespace) -> Path:
    """bench/engine_rules.yaml with `settings: {samples: 0}`: numbers only, no evidence."""
    path = Path(args.data_root) / "engine_rules_nosamples.yaml"
    text = RULESET.read_text(encoding="utf-8").replace("\nby: owner\n", "\nby: owner\nsettings: {samples: 0}\n", 1)
    path.write_text(text, encoding="utf-8")
    return path


# Measures and rules over the 100M-row source that Polars' streaming engine (2.1) cannot
# run in bounded memory: a median (or a quantile per group) makes the whole select or
# group_by it sits in run in memory, materialising every column the node reads; a distinct
# count (`n_unique`, so also the `unique` rule) keeps state that grows with the rows read,
# not with the distinct values. The streamable variant leaves them out, to show what the
# engine itself costs in memory on a source larger than RAM.
UNSTREAMABLE = {"measures": ["order_median", "order_p90", "response_median", "conversion_days",
                             "touched_customers"],
                "kpis": ["median_order", "p90_order", "first_response_hours", "days_to_convert",
                         "touch_coverage", "touches_per_customer"],
                "checks": ["interaction_id_unique"]}


def streamable_ruleset(args: argparse.Namespace) -> Path:
    """bench/engine_rules.yaml without UNSTREAMABLE (line by line: the YAML keeps its form)."""
    names = {n for group in UNSTREAMABLE.values() for n in group}
    out, skipping = [], False
    for line in RULESET.read_text(encoding="utf-8").splitlines(keepends=True):
        key = line.strip().removeprefix("- {id: ").split(":", 1)[0].split(",", 1)[0]
        if line.startswith("  ") and not line.startswith("   ") or line.startswith("  - "):
            skipping = key in names  # a measure, KPI or rule starts: keep it or not
        elif not line.startswith("    "):
            skipping = False
        if not skipping:
            out.append(line)
    path = Path(args.data_root) / "engine_rules_streamable.yaml"
    path.write_text("".join(out), encoding="utf-8")
    return path


def streamable_without() -> str:
    return ",".join(n for names in UNSTREAMABLE.values() for n in names)


# -- statistics --------------------------------------------------------------------------

def med(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def summary(engine: list[dict[str, Any]], hand: list[dict[str, Any]]) -> dict[str, Any]:
    ratios = [a["wall"] / b["wall"] for a, b in zip(engine, hand)]
    return {
        "engine_wall": med(engine, "wall"), "hand_wall": med(hand, "wall"),
        "engine_cpu": statistics.median(r["user"] + r["sys"] for r in engine),
        "hand_cpu": statistics.median(r["user"] + r["sys"] for r in hand),
        "ratio_of_medians": med(engine, "wall") / med(hand, "wall"),
        "median_ratio": statistics.median(ratios), "ratios": ratios,
        "engine_rss_mib": max(r["maxrss_kib"] for r in engine) / 1024,
        "hand_rss_mib": max(r["maxrss_kib"] for r in hand) / 1024,
        "engine_rss_median_mib": med(engine, "maxrss_kib") / 1024,
        "hand_rss_median_mib": med(hand, "maxrss_kib") / 1024,
        "rss_ratio": med(engine, "maxrss_kib") / med(hand, "maxrss_kib"),
        "min_idle": min(r["idle_before"] for r in engine + hand),
        "max_foreign_cpu": max(r["foreign_cpu"] for r in engine + hand),
    }


def check_rc(run: dict[str, Any], what: str) -> None:
    if run["rc"] not in (0, 1):  # 1: a rule at level `fail` failed, still a complete run
        print(f"{what} failed (exit {run['rc']}):\n{run['stderr']}", file=sys.stderr)
        sys.exit(1)


def clean(run: dict[str, Any], args: argparse.Namespace) -> bool:
    """The rest of the machine stayed (nearly) idle during the run."""
    return run["foreign_cpu"] <= args.max_foreign


def pairs(args: argparse.Namespace, data: Path, what: str, engine_cmd: Any, hand_cmd: Any,
          runs: int, samples: bool = True) -> dict[str, Any]:
    """Warm-up then ``runs`` interleaved rounds of (engine, hand), every run checked; a
    round during which other processes used more than --max-foreign of the CPUs is
    run again (up to --retries times) and recorded as discarded."""
    work = Path(args.data_root) / "out"
    work.mkdir(parents=True, exist_ok=True)
    e_out, h_out = work / f"{what}.engine.json", work / f"{what}.hand.json"
    engine, hand, discarded = [], [], []
    for i in range(args.warmup + runs):
        for attempt in range(args.retries + 1):
            a = launch(engine_cmd(e_out), args.idle_wait)
            check_rc(a, f"{what}: assess")
            b = launch(hand_cmd(h_out), args.idle_wait)
            check_rc(b, f"{what}: hand")
            agree(e_out, h_out, what, samples)
            if (clean(a, args) and clean(b, args)) or attempt == args.retries:
                break
            discarded.append({"engine": a, "hand": b})
            print(f"  {what}: round {i + 1} disturbed (foreign CPU {a['foreign_cpu']:.0%} / {b['foreign_cpu']:.0%}), "
                  "again", file=sys.stderr)
        tag = "warm-up" if i < args.warmup else f"run {i - args.warmup + 1}/{runs}"
        print(f"  {what} {tag}: assess {a['wall']:.2f} s {a['maxrss_kib'] / 1024:.0f} MiB, "
              f"hand {b['wall']:.2f} s {b['maxrss_kib'] / 1024:.0f} MiB, agree", file=sys.stderr)
        if i >= args.warmup:
            engine.append(a)
            hand.append(b)
    return {"engine": engine, "hand": hand, "discarded": discarded, **summary(engine, hand)}


# -- steps -------------------------------------------------------------------------------

def step_timing(args: argparse.Namespace, sizes: dict[str, Path], results: dict[str, Any]) -> None:
    results["timing"] = {}
    for name, data in sizes.items():
        results["timing"][name] = pairs(
            args, data, f"timing-{name}", lambda out, d=data: engine_run(args, d, out),
            lambda out, d=data: hand_run(d, out), args.runs)


def step_ablation(args: argparse.Namespace, sizes: dict[str, Path], results: dict[str, Any]) -> None:
    results["ablation"] = {}
    quiet = no_samples_ruleset(args)
    for name, data in sizes.items():
        results["ablation"][f"{name} no samples"] = pairs(
            args, data, f"nosamples-{name}", lambda out, d=data: engine_run(args, d, out, ruleset=quiet),
            lambda out, d=data: hand_run(d, out, samples=0), args.ablation_runs, samples=False)
        results["ablation"][f"{name} in-memory engine"] = pairs(
            args, data, f"inmemory-{name}", lambda out, d=data: engine_run(args, d, out, engine="in-memory"),
            lambda out, d=data: hand_run(d, out, engine="in-memory"), args.ablation_runs)


VALIDATE_PROBE = """
import json, sys
from engine.cli import main
rc = main(["validate", *sys.argv[1:]])
print(json.dumps({"rc": rc, "polars": "polars" in sys.modules,
                  "heavy": sorted(m for m in ("polars", "numpy", "pyarrow", "pandas") if m in sys.modules)}))
"""


def step_validate(args: argparse.Namespace, results: dict[str, Any]) -> None:
    folder = str(REPO / "rulesets")
    runs = [launch([*assess_cmd(args), "validate", folder], args.idle_wait) for _ in range(args.warmup + args.runs)]
    for r in runs:
        check_rc(r, "assess validate")
    runs = runs[args.warmup:]
    probe = subprocess.run([sys.executable, "-c", VALIDATE_PROBE, folder], capture_output=True, text=True, check=True)
    imported = json.loads(probe.stdout.strip().splitlines()[-1])
    # the same, timed inside one process, without interpreter start-up
    inside = subprocess.run([sys.executable, "-c", ("import time, sys; t = time.perf_counter(); "
                             "from engine.cli import main; main(['validate', sys.argv[1]]); "
                             "print(time.perf_counter() - t, file=sys.stderr)"), folder],
                            capture_output=True, text=True, check=True)
    results["validate"] = {"runs": runs, "wall": med(runs, "wall"), "max_wall": max(r["wall"] for r in runs),
                           "rulesets": sorted(p.name for p in (REPO / "rulesets").glob("*.yaml")
                                              if not p.name.endswith(".tests.yaml")),
                           "in_process": float(inside.stderr.strip().splitlines()[-1]),
                           "imports_polars": imported["polars"], "heavy_imports": imported["heavy"]}
    print(f"  validate: median {results['validate']['wall']:.3f} s, polars imported: {imported['polars']}",
          file=sys.stderr)


RENDER_PROBE = """
import json, sys, time
from pathlib import Path
from engine.run import assess
from engine.render import render
result = assess(Path(sys.argv[1]), Path(sys.argv[2]))
out = {}
for fmt in ("json", "md", "html", "xlsx", "table"):
    times = []
    for _ in range(int(sys.argv[3])):
        t = time.perf_counter()
        render(result, fmt)
        times.append(time.perf_counter() - t)
    out[fmt] = sorted(times)[len(times) // 2]
print(json.dumps(out))
"""


def step_formats(args: argparse.Namespace, data: Path, results: dict[str, Any]) -> None:
    work = Path(args.data_root) / "out"
    work.mkdir(parents=True, exist_ok=True)
    runs: dict[str, list[dict[str, Any]]] = {f: [] for f in FORMATS}
    for i in range(args.warmup + args.runs):
        order = FORMATS[i % len(FORMATS):] + FORMATS[:i % len(FORMATS)]  # rotate the order
        for fmt in order:
            for attempt in range(args.retries + 1):
                r = launch(engine_run(args, data, work / f"report.{fmt}", fmt=fmt), args.idle_wait)
                check_rc(r, f"assess run --format {fmt}")
                if clean(r, args) or attempt == args.retries:
                    break
            if i >= args.warmup:
                runs[fmt].append(r)
    base = med(runs["json"], "wall")
    probe = subprocess.run([sys.executable, "-c", RENDER_PROBE, str(RULESET), str(data), "5"],
                           capture_output=True, text=True, check=True)
    render_only = json.loads(probe.stdout.strip().splitlines()[-1])
    results["formats"] = {
        "data": str(data), "runs": runs,
        "wall": {f: med(runs[f], "wall") for f in FORMATS},
        "extra_over_json": {f: med(runs[f], "wall") - base for f in FORMATS},
        "extra_pct": {f: (med(runs[f], "wall") - base) / base * 100 for f in FORMATS},
        "render_only": render_only,
        "render_pct_of_run": {f: render_only[f] / base * 100 for f in render_only},
        "sizes": {f: (work / f"report.{f}").stat().st_size for f in FORMATS},
    }
    print("  formats: " + ", ".join(f"{f} {results['formats']['wall'][f]:.2f} s" for f in FORMATS), file=sys.stderr)


def parquet_rows(data: Path) -> dict[str, int]:
    """Row counts from the Parquet footers (when no run got as far as reporting them)."""
    code = ("import sys, json, polars as pl, pathlib; print(json.dumps({p.stem: pl.scan_parquet(p).select(pl.len())"
            ".collect().item() for p in pathlib.Path(sys.argv[1]).glob('*.parquet')}))")
    out = subprocess.run([sys.executable, "-c", code, str(data)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def step_stream(args: argparse.Namespace, data: Path, results: dict[str, Any]) -> None:
    """--engine streaming on the 100M-row source: the benchmark ruleset as it is, and its
    streamable variant (see UNSTREAMABLE). A run passing --rss-cap-gib is stopped there
    (so the machine never reaches the OOM killer) and reported as capped."""
    work = Path(args.data_root) / "out"
    work.mkdir(parents=True, exist_ok=True)
    cap_mib = args.rss_cap_gib * 1024
    variants = {"full": (RULESET, None), "streamable": (streamable_ruleset(args), streamable_without())}
    results["stream"] = {"data": str(data), "goal_gib": args.memory_goal, "cap_gib": args.rss_cap_gib}
    for variant, (ruleset, without) in variants.items():
        e_out, h_out = work / f"stream-{variant}.engine.json", work / f"stream-{variant}.hand.json"
        engine, hand = [], []
        for i in range(args.stream_runs):
            e_out.unlink(missing_ok=True)
            h_out.unlink(missing_ok=True)
            a = launch(engine_run(args, data, e_out, ruleset=ruleset, engine="streaming"), args.idle_wait, cap_mib)
            if not a["capped"]:
                check_rc(a, f"streaming {variant}: assess")
            cmd = hand_run(data, h_out, engine="streaming") + (["--without", without] if without else [])
            b = launch(cmd, args.idle_wait, cap_mib)
            if not b["capped"]:
                check_rc(b, f"streaming {variant}: hand")
            if not (a["capped"] or b["capped"]):
                agree(e_out, h_out, f"streaming {variant}")

            def said(r: dict[str, Any]) -> str:
                return (f"stopped at the {args.rss_cap_gib:g} GiB cap after {r['wall']:.1f} s" if r["capped"]
                        else f"{r['wall']:.1f} s {r['maxrss_kib'] / 1024:.0f} MiB")
            print(f"  stream {variant} run {i + 1}: assess {said(a)}, hand {said(b)}"
                  + ("" if a["capped"] or b["capped"] else ", agree"), file=sys.stderr)
            engine.append(a)
            hand.append(b)
        rows = {s["name"]: s["rows"] for s in json.loads(e_out.read_text())["sources"]} if e_out.exists() else \
            parquet_rows(data)
        peak = max(r["maxrss_kib"] for r in engine) / 1024 ** 2
        capped = any(r["capped"] for r in engine)
        results["stream"][variant] = {"engine": engine, "hand": hand, "rows": rows, **summary(engine, hand),
                                      "engine_peak_gib": peak, "engine_capped": capped,
                                      "hand_capped": any(r["capped"] for r in hand),
                                      "met": peak < args.memory_goal and not capped}


EXPLAIN_PROBE = """
import sys
from pathlib import Path
import polars as pl
sys.path.insert(0, sys.argv[3])
captured = []
real = pl.collect_all
def spy(queries, *a, **k):
    queries = list(queries)
    captured.append(queries)
    return real(queries, *a, **k)
pl.collect_all = spy
from engine.run import assess
assess(Path(sys.argv[1]), Path(sys.argv[2]))
import hand
frames, overall, grouped = hand.queries(Path(sys.argv[2]))
out = Path(sys.argv[4])
out.mkdir(parents=True, exist_ok=True)
(out / "engine_plan.txt").write_text(pl.explain_all(captured[0]))
(out / "engine_samples_plan.txt").write_text(pl.explain_all(captured[1]) if len(captured) > 1 else "")
(out / "hand_plan.txt").write_text(pl.explain_all(overall + grouped))
for i, q in enumerate(captured[0]):
    (out / f"engine_query_{i}.txt").write_text(q.explain())
print(len(captured[0]), len(captured[1]) if len(captured) > 1 else 0)
"""


def step_profile(args: argparse.Namespace, data: Path, results: dict[str, Any]) -> None:
    folder = Path(args.data_root) / "profile"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "engine.json"
    subprocess.run([sys.executable, "-m", "pyinstrument", "-r", "text", "-o", str(folder / "pyinstrument.txt"),
                    "-m", "engine", "run", str(RULESET), "--data", str(data), "--format", "json",
                    "--out", str(target)], check=True)
    subprocess.run([sys.executable, "-m", "pyinstrument", "-r", "text", "-o", str(folder / "pyinstrument-hand.txt"),
                    str(HAND), "--data", str(data), "--out", str(folder / "hand.json")], check=True)
    probe = subprocess.run([sys.executable, "-c", EXPLAIN_PROBE, str(RULESET), str(data), str(HERE), str(folder)],
                           capture_output=True, text=True, check=True)
    results["profile"] = {"folder": str(folder), "queries": probe.stdout.split()}
    print(f"  profile written to {folder}", file=sys.stderr)


# -- report ------------------------------------------------------------------------------

def report(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [(f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, Linux {m['kernel']}; "
             f"Python {m['python']}, Polars {m['polars']}, assess {m['assess']}; {m['date']}"), ""]
    if "timing" in results:
        lines += [("| size | assess (median s) | hand (median s) | ratio of medians | median ratio | "
                  "assess CPU s | hand CPU s | assess peak RSS MiB | hand peak RSS MiB | RSS ratio |"),
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for name, t in results["timing"].items():
            lines.append(f"| {name} | {t['engine_wall']:.2f} | {t['hand_wall']:.2f} | {t['ratio_of_medians']:.3f} | "
                         f"{t['median_ratio']:.3f} | {t['engine_cpu']:.1f} | {t['hand_cpu']:.1f} | "
                         f"{t['engine_rss_median_mib']:.0f} | {t['hand_rss_median_mib']:.0f} | {t['rss_ratio']:.2f} |")
        lines.append("")
    if "ablation" in results:
        lines += ["| ablation | assess s | hand s | ratio | assess MiB | hand MiB |", "|---|---|---|---|---|---|"]
        for name, t in results["ablation"].items():
            lines.append(f"| {name} | {t['engine_wall']:.2f} | {t['hand_wall']:.2f} | {t['median_ratio']:.3f} | "
                         f"{t['engine_rss_median_mib']:.0f} | {t['hand_rss_median_mib']:.0f} |")
        lines.append("")
    if "validate" in results:
        v = results["validate"]
        lines += [(f"validate rulesets/ ({len(v['rulesets'])} rulesets): median {v['wall']:.3f} s, max "
                  f"{v['max_wall']:.3f} s, {v['in_process']:.3f} s in process; imports polars: {v['imports_polars']}"), ""]
    if "formats" in results:
        f = results["formats"]
        lines += ["| format | median s | extra over json | render alone (s) |", "|---|---|---|---|"]
        for fmt in FORMATS:
            lines.append(f"| {fmt} | {f['wall'][fmt]:.3f} | {f['extra_over_json'][fmt]:+.3f} s "
                         f"({f['extra_pct'][fmt]:+.1f}%) | {f['render_only'][fmt]:.3f} |")
        lines.append("")
    if "stream" in results:
        s = results["stream"]
        for variant in ("full", "streamable"):
            if variant not in s:
                continue
            v = s[variant]

            def peak(gib: float, capped: bool) -> str:
                return f"over {s['cap_gib']:g} GiB (stopped at the cap)" if capped else f"{gib:.2f} GiB"
            lines += [(f"streaming ({variant}), {v['rows'].get('interactions', 0):,} interaction rows: assess "
                       f"{v['engine_wall']:.1f} s, peak {peak(v['engine_peak_gib'], v['engine_capped'])} "
                       f"(goal < {s['goal_gib']} GiB: {'met' if v['met'] else 'MISSED'}); hand "
                       f"{v['hand_wall']:.1f} s, peak {peak(v['hand_rss_mib'] / 1024, v['hand_capped'])}")]
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", default="data,timing,ablation,validate,formats,stream")
    ap.add_argument("--sizes", default="125000,1250000", help="customers per export (x8 interaction rows)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--ablation-runs", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--stream-runs", type=int, default=2)
    ap.add_argument("--copies", type=int, default=10, help="copies of the 10M interactions for the streaming test")
    ap.add_argument("--memory-goal", type=float, default=4.0, help="GiB")
    ap.add_argument("--rss-cap-gib", type=float, default=None,
                    help="stop a streaming run whose resident memory passes this (default: 80%% of RAM)")
    ap.add_argument("--data-root", default="/tmp/bench-data")
    ap.add_argument("--assess", default="assess")
    ap.add_argument("--idle-wait", type=float, default=120.0)
    ap.add_argument("--max-foreign", type=float, default=0.10,
                    help="share of the CPUs other processes may use during a run before it is run again")
    ap.add_argument("--retries", type=int, default=3)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    steps = set(args.steps.split(","))
    if args.rss_cap_gib is None:
        args.rss_cap_gib = round(machine_ram_gib() * 0.8, 1)
    Path(args.data_root).mkdir(parents=True, exist_ok=True)
    os.chdir(REPO)

    results: dict[str, Any] = {"machine": machine(), "args": vars(args)}
    customers = [int(x) for x in args.sizes.split(",")]
    sizes = {label(n): make_sample(args, n) for n in customers}
    print(f"data: {', '.join(f'{k} {v}' for k, v in sizes.items())}", file=sys.stderr)
    if "timing" in steps:
        step_timing(args, sizes, results)
    if "ablation" in steps:
        step_ablation(args, sizes, results)
    if "validate" in steps:
        step_validate(args, results)
    if "formats" in steps:
        step_formats(args, sizes[label(min(customers))], results)
    if steps & {"data", "stream", "profile"}:
        base = make_sample(args, 1_250_000)
        big = make_100m(args, base) if steps & {"data", "stream"} else None
        if "stream" in steps:
            step_stream(args, big, results)
        if "profile" in steps:
            step_profile(args, base, results)
    out = Path(args.json or Path(args.data_root) / "engine-bench.json")
    out.write_text(json.dumps(results, indent=1, default=str))
    print(report(results))
    print(f"\nall runs in {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
