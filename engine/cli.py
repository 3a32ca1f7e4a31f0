"""The `assess` command: validate, run, sample-data, and the generated references.

Exit codes: 0 done (whatever the scores), 1 invalid ruleset (validate) or a data-quality
rule at level `fail` failed (run), 2 the ruleset, the data or the command line could not
be used. Errors are printed as `file:line:column: error [rule] message (hint)`; no
traceback reaches the user unless ASSESS_DEBUG=1.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any, Callable, Sequence

from . import __version__
from .errors import AssessError, Problem
from .render import FORMATS
from .safe import printable

RULESET_SUFFIXES = (".yaml", ".yml")
# the format `run --out FILE` writes when --format is not given, by FILE's extension
OUT_FORMATS = {".json": "json", ".md": "md", ".html": "html", ".htm": "html", ".xml": "junit",
               ".xlsx": "xlsx", ".parquet": "parquet", ".csv": "csv"}


def write_atomic(path: Path, text: str | bytes) -> None:
    """Write through a temporary file in the same folder and rename, so a failure or
    Ctrl-C never leaves a half-written report behind. Only a regular file (or a new path)
    is replaced so: a device or a pipe (/dev/null, a FIFO) is written into, never renamed
    over; a folder is refused."""
    binary = isinstance(text, bytes)
    mode, options = ("wb", {}) if binary else ("w", {"encoding": "utf-8", "newline": ""})
    if path.is_dir():
        raise UsageError(f"{path} is a folder; give a file name, e.g. {path / 'report'}")
    try:
        if path.exists() and not path.is_file():
            with open(path, mode, **options) as f:
                f.write(text)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:  # a read-only folder, a full disk, a device that refuses
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, mode, **options) as f:
            f.write(text)
        # a report is for sharing: the mode a new file gets here, not mkstemp's 0600
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise


def ruleset_files(paths: Sequence[str]) -> list[Path]:
    """Files as given; folders searched recursively for rulesets (not *.tests.yaml)."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(f for f in p.rglob("*") if f.suffix in RULESET_SUFFIXES
                            and not f.name.endswith((".tests.yaml", ".tests.yml")))
        elif p.exists():
            found.append(p)
        else:
            raise UsageError(f"{p}: no such file or folder")
    return found


class UsageError(Exception):
    pass


def cmd_validate(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from .errors import render_problems
    from .validate import load_ruleset, missing_files

    files = ruleset_files(args.paths)
    if not files:
        raise UsageError("no ruleset files (*.yaml, *.yml) found")
    found: dict[str, list[Problem]] = {}
    data = _data(args.data)
    for file in files:
        try:
            ruleset = load_ruleset(file, tuple(map(Path, args.allow_path)) + ((data,) if isinstance(data, Path) else ()))
            found[str(file)] = ruleset.warnings if data is None else \
                [w for w in ruleset.warnings if w.rule != "missing-file"] + (
                    missing_files(ruleset, data) if isinstance(data, Path) else _tables(ruleset, data))
        except AssessError as exc:
            found[str(file)] = exc.problems
    if args.strict:  # warnings become errors
        found = {f: [replace(p, severity="error") for p in ps] for f, ps in found.items()}
    sys.stdout.write(render_problems(found, args.format))
    bad = sum(any(p.severity == "error" for p in ps) for ps in found.values())
    warnings = sum(p.severity == "warning" for ps in found.values() for p in ps)
    print(f"{len(files) - bad} of {len(files)} ruleset(s) valid"
          + (f", {warnings} warning(s)" if warnings else ""), file=sys.stderr)
    return 1 if bad else 0


def _data(given: str | None) -> Any:
    """What --data names: None, a folder that must exist, or a database (engine.connect)."""
    from .connect import data_location

    data = data_location(given) if given else None
    if isinstance(data, Path) and not data.is_dir():
        raise UsageError(f"--data {data}: no such folder")
    return data


def _tables(ruleset: Any, data: Any) -> list[Problem]:
    from .backends.ibis import check_tables

    return check_tables(ruleset, data)


def _params(pairs: Sequence[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--param {pair}: write --param name=value")
        out[name.strip()] = value.strip()
    return out


def _progress() -> tuple[Callable[[str], None], Callable[[], None]]:
    """A spinner on stderr while the run works, and nothing when stderr is not a terminal."""
    if not sys.stderr.isatty():
        return (lambda _: None), (lambda: None)
    from rich.console import Console

    status = Console(stderr=True).status("starting")
    status.start()
    return (lambda step: status.update(step)), status.stop


def _warn(message: str) -> None:
    print(printable(f"assess: warning: {message}"), file=sys.stderr)


def only(result: Any, entity: str) -> None:
    """Keep one entity (by id or name) in the result, and the actions for it."""
    from .errors import did_you_mean

    if not result.by:
        raise UsageError(f"--entity {entity}: the ruleset has no entities (no `by`)")
    found = [e for e in result.entities if entity in (e.id, e.name)]
    if result.table is not None:  # the whole table: it is written by parquet and csv, and counted
        import polars as pl

        result.table = result.table.filter(pl.col(".id").is_in([e.id for e in found[:1]]))
        result.population = None
    if not found:
        raise UsageError(f"--entity {entity}: no such entity; "
                         + (did_you_mean(entity, [e.id for e in result.entities] + [e.name for e in result.entities])
                            or "entities: " + ", ".join(e.id for e in result.entities[:20])))
    result.entities = found
    result.focus = found[0].id  # the headline shows the entity's total and grade, not the whole's
    result.actions = [a for a in result.actions if a.entity in (None, found[0].id)]


def output_format(given: str | None, out: str | None) -> str:
    """--format as given, else from the extension of --out, else the terminal table; a
    --format that contradicts the extension is refused rather than written misnamed."""
    suffix = Path(out).suffix.lower() if out else ""
    implied = OUT_FORMATS.get(suffix)
    if given and implied and given != implied:
        raise UsageError(f"--format {given} contradicts --out {out}, which names a {implied} file; "
                         f"drop --format, or name the file for {given}")
    return given or implied or "table"


def cmd_run(args: argparse.Namespace) -> int:
    from .render import render
    from .run import assess

    args.format = output_format(args.format, args.out)
    data = _data(args.data)
    if args.format in ("xlsx", "parquet") and not args.out and sys.stdout.isatty():
        raise UsageError(f"--format {args.format} writes a binary file: add --out report.{args.format}")
    history = Path(args.history) if args.history else None
    if history is not None and history.exists() and not history.is_dir():
        raise UsageError(f"--history {history}: not a folder")
    update, stop = _progress()
    try:
        result = assess(Path(args.ruleset), data, _params(args.param), args.lang, update,
                        Path(args.evidence) if args.evidence else None, tuple(map(Path, args.allow_path)),
                        "auto" if args.engine == "polars" else args.engine, args.entity)
        if args.format in ("parquet", "csv") and result.table is None:
            raise UsageError(f"--format {args.format} writes one row per entity: the ruleset has no `by`")
        if args.entity is not None:
            only(result, args.entity)
        if history is not None:
            from .history import compare_with_last
            compare_with_last(result, history, _warn)
        update("rendering")
        color = args.out is None and sys.stdout.isatty()
        text = render(result, args.format, color=color)
    finally:
        stop()
    if args.out:
        write_atomic(Path(args.out), text)
    elif isinstance(text, bytes):
        sys.stdout.buffer.write(text)
    else:
        sys.stdout.write(text)
    if history is not None:  # only once the report is out, so a failed run records nothing
        from .history import append
        print(f"recorded in {append(result, history)}", file=sys.stderr)
    if result.failed:  # exit 1 says why, in one line
        print(f"assess: {result.verdict.line()}", file=sys.stderr)
    return 1 if result.failed else 0


def cmd_history(args: argparse.Namespace) -> int:
    from .history import period, runs

    folder = Path(args.dir)
    if not folder.is_dir():
        raise UsageError(f"{folder}: no such folder")
    table = runs(folder, args.ruleset, _warn)
    if table.is_empty():
        print("no runs recorded", file=sys.stderr)
        return 0
    for row in table.iter_rows(named=True):
        total = "n/a" if row["total"] is None else f"{row['total']:.1f}"
        print(printable(f"{row['run']}  {row['at']:%Y-%m-%d %H:%M:%S}  {row['ruleset']}  "
                        f"period {period(row['params']) or 'none'}  score {total}  "
                        f"grade {row['grade']}  {row['kpis']} KPIs  {row['entities']} entities"))
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    from .cases import run

    for path in map(Path, args.paths):
        if not path.exists():
            raise UsageError(f"{path}: no such file or folder")
    outcomes = []
    for o in run([Path(p) for p in args.paths], tuple(map(Path, args.allow_path))):  # each printed as soon as it has run
        outcomes.append(o)
        print(printable(f"{o.file}::{o.name} {'PASSED' if o.passed else 'ERROR' if o.error else 'FAILED'}"))
        for line in ([o.error] if o.error else []) + o.failures:
            print("    " + "\n    ".join(map(printable, line.split("\n"))))
    failed = sum(not o.passed for o in outcomes)
    print(f"{len(outcomes) - failed} passed, {failed} failed" if outcomes else "no test cases found",
          file=sys.stderr)
    return 1 if failed else 0


def cmd_explain(args: argparse.Namespace) -> int:
    from .explain import explain
    from .run import run

    from .errors import did_you_mean
    from .validate import load_ruleset

    kpis = load_ruleset(Path(args.ruleset)).kpis  # a misspelt KPI is said before any data is read
    if args.kpi not in kpis:
        raise UsageError(f"no KPI `{args.kpi}` in {args.ruleset}; "
                         + (did_you_mean(args.kpi, kpis) or "KPIs: " + ", ".join(kpis)))
    plan, executed, result = run(Path(args.ruleset), _data(args.data), _params(args.param), entity=args.entity)
    entity = None
    if args.entity is not None:
        only(result, args.entity)  # by id or name, with a did-you-mean
        entity = result.entities[0].id
    sys.stdout.write(printable(explain(plan, executed, result, args.kpi, entity), lines=True))
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from .diff import added, diff, from_git, render_diff

    data = _data(args.data)
    if args.git:
        if len(args.rulesets) != 1:
            raise UsageError("with --git REF give one ruleset: the version to compare with REF")
        head = Path(args.rulesets[0])
        try:
            text = from_git(args.git, head)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if text is None:
            from .validate import load_ruleset
            load_ruleset(head)
            sys.stdout.write(render_diff(str(head), added(head, data, args.git), args.format))
            return 0
        # beside the head, so both read the same sample data
        fd, name = tempfile.mkstemp(dir=head.parent, prefix=f".{head.stem}.{args.git.replace('/', '_')}.", suffix=".yaml")
        base = Path(name)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            change = diff(base, head, data)
        finally:
            base.unlink(missing_ok=True)
    elif len(args.rulesets) == 2:
        base, head = map(Path, args.rulesets)
        change = diff(base, head, data)
    else:
        raise UsageError("give BASE and HEAD rulesets, or --git REF and one ruleset")
    sys.stdout.write(render_diff(str(head), change, args.format))
    return 0


def schema_reference(out: Path) -> str:
    """The `$schema` a new ruleset points its editor at, as a path that survives a commit:
    relative to the file when both lie in one project (a checkout, or a project with its
    .venv inside), else the schema's published id, never this machine's absolute path."""
    import json

    from . import resource

    schema = (resource("schemas") / "ruleset.schema.json").resolve()
    folder = out.resolve().parent
    shared = Path(os.path.commonpath([schema, folder]))
    # one project: their nearest shared folder holds a checkout or an environment (a
    # shared /tmp or home folder does not make one)
    if any((shared / marker).exists() for marker in (".git", "pyproject.toml", ".venv")):
        return Path(os.path.relpath(schema, folder)).as_posix()
    return json.loads(schema.read_text(encoding="utf-8"))["$id"]


def cmd_init(args: argparse.Namespace) -> int:
    import re

    import jinja2

    from . import resource

    if not re.fullmatch(r"[a-z][a-z0-9_]*", args.name):
        raise UsageError(f"{args.name}: a ruleset id is lower case letters, digits and underscores")
    out = Path(args.out or f"{args.name}.yaml")
    if out.exists() and not args.force:
        raise UsageError(f"{out} exists; choose another --out or add --force")
    schema = schema_reference(out)
    if args.source:
        from .validate import load_ruleset
        load_ruleset(Path(args.source))  # only a valid ruleset is copied
        text = Path(args.source).read_text(encoding="utf-8")
        text = re.sub(r"(?m)^ruleset: *\S+", f"ruleset: {args.name}", text, count=1)
        text = re.sub(r"(?m)^# yaml-language-server: \$schema=\S+", f"# yaml-language-server: $schema={schema}", text)
        text = f"# {args.name}: made by `assess init` from {args.source}.\n" + text
    else:
        text = jinja2.Environment(loader=jinja2.FileSystemLoader(resource("templates")),
                                  keep_trailing_newline=True).get_template("init.yaml.j2") \
            .render(name=args.name, path=out, schema=schema)
    write_atomic(out, text)
    sample = out.parent / "sample-data"
    if not sample.exists():  # so the new ruleset runs as it is
        from .sampledata import generate
        generate(sample)
        print(f"wrote sample data to {sample}", file=sys.stderr)
    print(f"wrote {out}; run it with: assess run {out}", file=sys.stderr)
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from . import resource

    name = "result" if args.result else "tests" if args.tests else "ruleset"  # argparse refuses both
    sys.stdout.write((resource("schemas") / f"{name}.schema.json").read_text(encoding="utf-8"))
    return 0


def cmd_sample_data(args: argparse.Namespace) -> int:
    from .connect import Database, data_location, write_tables
    from .sampledata import generate, tables

    out = data_location(args.out)
    if isinstance(out, Database):
        counts = write_tables(out, tables(args.customers, args.seed, args.defects))
    else:
        counts = generate(out, customers=args.customers, seed=args.seed, fmt=args.format, defects=args.defects)
    for table, n in counts.items():
        print(f"{table}: {n} rows", file=sys.stderr)
    print(f"wrote {len(counts)} tables to {out}", file=sys.stderr)
    return 0


def _print_reference(text: str) -> None:
    """A reference written for the README (reST-style ``code``), as a reader wants it: as
    Markdown, drawn by rich on a terminal."""
    text = text.replace("``", "`")
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.markdown import Markdown
        Console().print(Markdown(text))
    else:
        print(text)


def cmd_functions(args: argparse.Namespace) -> int:
    from .functions import reference

    _print_reference(reference())
    return 0


def references() -> dict[str, str]:
    """The reference sections of the docs, each generated from the docstrings."""
    from .checks import reference as rules
    from .functions import reference as functions
    from .score import reference as scoring

    return {"commands": commands(), "functions": functions(), "rules": rules(), "scoring": scoring()}


def cmd_docs(args: argparse.Namespace) -> int:
    """Rewrite the generated sections (between <!-- NAME:start/end --> markers) of a file."""
    path = Path(args.readme)
    if not path.is_file():
        raise UsageError(f"{path}: no such file; run `assess docs` in a checkout of assess, "
                         "or give the README to update: assess docs PATH/README.md")
    text = path.read_text(encoding="utf-8")
    for name, body in references().items():
        start, end = f"<!-- {name}:start -->\n", f"\n<!-- {name}:end -->"
        if start not in text:
            raise UsageError(f"{path}: no `{start.strip()}` marker")
        head, rest = text.split(start, 1)
        text = head + start + body + end + rest.split(end, 1)[1]
    write_atomic(path, text)
    return 0


def cmd_rules(args: argparse.Namespace) -> int:
    from .checks import reference as rules
    from .score import reference as methods

    _print_reference("## Data-quality rules\n\n" + rules() + "\n\n## Scoring methods\n\n" + methods())
    return 0


# Each command's exit codes, said once: in its --help and in the README's table.
EXITS = {
    "validate": "0 valid, 1 invalid, 2 usage error",
    "run": "0 ran (whatever the scores), 1 a data-quality rule at level `fail` failed, "
           "2 the ruleset or the data could not be used",
    "test": "0 all pass, 1 a case fails, 2 usage error",
    "diff": "0 compared, 2 a ruleset or the data could not be used",
    "explain": "0 explained, 2 no such KPI or entity, or the ruleset or the data could not be used",
    "schema": "0 printed, 2 usage error",
    "init": "0 written, 2 the name, FILE or --from ruleset could not be used",
    "history": "0 listed, 2 no such folder",
    "docs": "0 written, 2 no such file or no reference markers in it",
    "sample-data": "0 written, 2 usage error",
    "functions": "0",
    "rules": "0",
}
PIPE_CLOSED = 141  # 128 + SIGPIPE: what `yes | head` reports for `yes`


def _command(sub: Any, name: str, help: str, description: str) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=help, description=description,
                          epilog=f"exit codes: {EXITS[name]}; {PIPE_CLOSED} when the reader of "
                                 "the output closes it early (`| head`)")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="assess", description="Configuration-driven assessment "
                                "rules engine: YAML rulesets in, weighted scorecards out.")
    p.add_argument("--version", action="version", version=f"assess {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    allow = dict(action="append", default=[], metavar="DIR",
                 help="also let sources be read under DIR (by default: the ruleset's folder and --data); repeatable")
    param = dict(action="append", default=[], metavar="NAME=VALUE",
                 help="override a param, e.g. --param period_start=2025-04-01 (repeatable)")

    v = _command(sub, "validate", "check rulesets without reading data (exit 1 if invalid)",
                 "checks ruleset files or folders (recursively) against the schema and the semantic "
                 "rules, without reading data; warnings (an unused measure, a KPI no action covers, "
                 "a source file not found, ...) are reported apart and fail only with `--strict`")
    v.add_argument("paths", nargs="+", metavar="PATH", help="ruleset files or folders (searched recursively)")
    v.add_argument("--format", choices=("text", "json", "github", "junit", "sarif"), default="text",
                   help="github: annotations for GitHub Actions; sarif: for code-scanning views")
    v.add_argument("--strict", action="store_true", help="treat warnings as errors")
    v.add_argument("--data", metavar="DIR|DATABASE", help="the folder or database `run --data` will read: a source file "
                   "in neither it nor the ruleset's folder is then an error, not a warning; in a database, each "
                   "source's table and its declared and used columns must be there")
    v.add_argument("--allow-path", **allow)
    v.set_defaults(func=cmd_validate)

    r = _command(sub, "run", "assess a ruleset on its data and print the scorecard",
                 "assesses the data (by default the ruleset's own sample data); `--entity` shows one "
                 "entity, `--history` appends the run to DIR and shows the change since the previous "
                 "run, `--evidence` writes every failing row of each rule that warns or fails, `junit` "
                 "writes each rule as a test case (failures as failures, warnings as skipped); "
                 "the format follows the extension of `--out` (" + ", ".join(OUT_FORMATS) + ")")
    r.add_argument("ruleset", metavar="RULESET", help="the ruleset file")
    r.add_argument("--data", metavar="DIR|DATABASE", help="read the tables from DIR, a DuckDB file or the database "
                   "a URL names (duckdb:///crm.duckdb, postgresql://user@host/db; default: the ruleset's own sample data)")
    r.add_argument("--param", **param)
    r.add_argument("--format", choices=FORMATS, default=None,
                   help="default: from the extension of --out, else table; junit: each data-quality "
                        "rule as a test case, for CI; xlsx needs --out")
    r.add_argument("--out", metavar="FILE", help="write to FILE (atomically) instead of stdout")
    r.add_argument("--lang", choices=("en", "zh"), default="en", help="language of titles and labels")
    r.add_argument("--entity", metavar="ID", help="show one entity's scorecard (by id or name)")
    r.add_argument("--history", metavar="DIR", help="append the run to the history in DIR and show the change since the last run")
    r.add_argument("--evidence", metavar="DIR", help="write every failing row of each rule that warns or fails to DIR/<rule>.csv")
    r.add_argument("--engine", choices=("auto", "polars", "streaming", "in-memory", "duckdb", "spark"),
                   default="auto",
                   help="where the queries run: Polars (auto or polars, the default; streaming bounds memory on "
                        "sources larger than RAM; in-memory), embedded DuckDB, or Spark (local, or a cluster through the "
                        "standard Spark settings); a database URL in --data runs them in that database")
    r.add_argument("--allow-path", **allow)
    r.set_defaults(func=cmd_run)

    t = _command(sub, "test", "run the rulesets' own test cases (exit 1 if one fails)",
                 "runs the rulesets' own test cases (a `tests:` section, or `NAME.tests.yaml` beside "
                 "`NAME.yaml`) and reports each like pytest; a tests file's `ruleset:` and `data:` must "
                 "lie under its folder (or an `--allow-path` DIR)")
    t.add_argument("paths", nargs="+", metavar="PATH", help="rulesets, NAME.tests.yaml files or folders")
    t.add_argument("--allow-path", action="append", default=[], metavar="DIR",
                   help="also let a tests file name a ruleset or data under DIR (by default: its own folder)")
    t.set_defaults(func=cmd_test)

    f2 = _command(sub, "diff", "what a ruleset change does: rules, then scores, grades, ranks and actions on the data",
                  "what a change does: KPIs, checks and actions added, removed or changed, then the "
                  "totals, grades, KPI scores, ranks and actions that move on the data; with `--git REF`, "
                  "BASE is RULESET as committed at REF (added, when it is not there)")
    f2.add_argument("rulesets", nargs="+", metavar="RULESET", help="BASE HEAD, or one ruleset with --git REF")
    f2.add_argument("--git", metavar="REF", help="take BASE from git at REF (e.g. origin/main)")
    f2.add_argument("--data", metavar="DIR|DATABASE", help="run both on the tables in DIR or the database a URL names "
                    "(as run --data; default: each ruleset's own sample data)")
    f2.add_argument("--format", choices=("text", "md"), default="text", help="md: for a pull-request comment")
    f2.set_defaults(func=cmd_diff)

    e = _command(sub, "explain", "show how a KPI is computed, step by step, with its values",
                 "the KPI's lineage, formula to measures to sources, filters and params, with every value")
    e.add_argument("ruleset", metavar="RULESET", help="the ruleset file")
    e.add_argument("kpi", metavar="KPI", help="the id of the KPI to explain")
    e.add_argument("--data", metavar="DIR|DATABASE", help="read the tables from DIR or the database a URL names "
                   "(as run --data; default: the ruleset's own sample data)")
    e.add_argument("--param", **param)
    e.add_argument("--entity", metavar="ID", help="explain the KPI of one entity (by id or name)")
    e.set_defaults(func=cmd_explain)

    c = _command(sub, "schema", "print the ruleset JSON Schema (for editors and CI)",
                 "prints the JSON Schema of rulesets (or results, or tests files)")
    which = c.add_mutually_exclusive_group()
    which.add_argument("--result", action="store_true", help="the schema of the JSON result instead")
    which.add_argument("--tests", action="store_true", help="the schema of NAME.tests.yaml files instead")
    c.set_defaults(func=cmd_schema)

    i = _command(sub, "init", "write a new ruleset, commented, that runs on sample data",
                 "writes a commented starter ruleset (and sample data beside it) that validates and runs")
    i.add_argument("name", metavar="NAME", help="the ruleset id (lower case, digits, underscores)")
    i.add_argument("--from", dest="source", metavar="RULESET", help="start from a copy of this ruleset")
    i.add_argument("--out", metavar="FILE", help="where to write it (default NAME.yaml)")
    i.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    i.set_defaults(func=cmd_init)

    h = _command(sub, "history", "list the runs recorded with --history",
                 "lists the runs recorded with `run --history DIR`, each with its period")
    h.add_argument("dir", metavar="DIR", help="the folder given to `run --history`")
    h.add_argument("--ruleset", metavar="ID", help="only the runs of this ruleset")
    h.set_defaults(func=cmd_history)

    w = _command(sub, "docs", "regenerate the reference sections of README.md from the docstrings",
                 "regenerates the reference sections of the README (the commands, rules, functions, "
                 "scoring methods) from the code, in a checkout")
    w.add_argument("readme", nargs="?", default="README.md", metavar="README",
                   help="the file with the <!-- NAME:start --> markers (default README.md)")
    w.set_defaults(func=cmd_docs)

    s = _command(sub, "sample-data", "write a synthetic CRM export (every table)",
                 "writes a deterministic synthetic CRM export, every table of the CRM data model, "
                 "to a folder or a database")
    s.add_argument("--out", required=True, metavar="DIR|DATABASE",
                   help="a folder, a DuckDB file (crm.duckdb) or a postgresql:// URL; tables of the same name are replaced")
    s.add_argument("--customers", type=int, default=2000, metavar="N", help="how many customers (default 2000)")
    s.add_argument("--seed", type=int, default=7, metavar="S", help="the random seed: the same seed writes the same data (default 7)")
    s.add_argument("--format", choices=("csv", "parquet"), default="csv", help="the file format of the tables")
    s.add_argument("--defects", type=float, default=0.03, metavar="R", help="share of defective records (default 0.03; 0 for none)")
    s.set_defaults(func=cmd_sample_data)

    f = _command(sub, "functions", "list the functions formulas can use", "lists the functions formulas can use")
    f.set_defaults(func=cmd_functions)
    d = _command(sub, "rules", "list the data-quality rules and scoring methods",
                 "lists the data-quality rule kinds and scoring methods")
    d.set_defaults(func=cmd_rules)
    return p


def _usage(command: argparse.ArgumentParser) -> str:
    """`assess run RULESET [--data DIR] ...`, from the parser itself."""
    parts = []
    for action in command._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        value = "|".join(action.choices) if action.choices else action.metavar or action.dest.upper()
        if not action.option_strings:
            parts.append(value + ("..." if action.nargs == "+" else ""))
            parts[-1] = f"[{parts[-1]}]" if action.nargs == "?" else parts[-1]
            continue
        flag = action.option_strings[0] + ("" if action.nargs == 0 else f" {value}")
        parts.append(flag if action.required else f"[{flag}]")
    return " ".join([command.prog, *parts])


def commands() -> str:
    """The README's table of commands, made from the parser: usage, description, exit codes."""
    sub = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    rows = ["| command | what it does | exit codes |", "|---|---|---|"]
    for name, command in sub.choices.items():
        cells = (f"`{_usage(command)}`", command.description, EXITS[name])
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows)


class Terminated(BaseException):
    """SIGTERM (a CI job cancelled, a container stopped): unwinds like Ctrl-C, so a
    report half written is removed and the previous one kept."""


def _terminate(signum: int, frame: Any) -> None:
    raise Terminated


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        previous = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread: leave the signal to whoever runs us
        previous = None
    try:
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
        return code
    except BrokenPipeError:
        # the reader (`| head`) has what it wanted: stop quietly, as Unix tools do, and
        # point stdout at nothing so the interpreter's last flush does not complain
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return PIPE_CLOSED
    except Terminated:
        print("assess: terminated", file=sys.stderr)
        return 143
    except AssessError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    except UsageError as exc:
        print(printable(f"assess: {exc}"), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("assess: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the last line of defence: no traceback for users
        if os.environ.get("ASSESS_DEBUG"):
            traceback.print_exc()
        print(printable(f"assess: internal error: {type(exc).__name__}: {exc} "
                        "(set ASSESS_DEBUG=1 for the traceback)"), file=sys.stderr)
        return 2
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
