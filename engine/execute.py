"""Stage 4, execute: open every source, hold it to its contract, run all queries at once.

Each source is scanned lazily (projection and predicate pushdown through ``scan_*``) and
becomes one aggregation; ``collect_all`` runs them together. Failing-row samples are a
second, bounded query, run only for the rules that did not pass.
"""
from __future__ import annotations

import ast
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import polars as pl

from .checks import parse_date
from .compile import ROWS, CheckPlan, Plan
from .errors import AssessError, Problem, did_you_mean, first_line
from .model import DATA_FORMATS, Source

TYPES: dict[str, Any] = {"string": pl.String, "int": pl.Int64, "float": pl.Float64,
                         "bool": pl.Boolean, "date": pl.Date, "datetime": pl.Datetime("us")}
FORMATS = DATA_FORMATS


@dataclass
class Executed:
    values: pl.DataFrame  # one row: every measure, check count and source row count
    entities: pl.DataFrame | None  # one row per entity: its key, `__name__` and every measure
    frames: dict[str, pl.LazyFrame]  # each source, filtered by its `where`
    paths: dict[str, Path]
    groups: dict[str, pl.DataFrame] = field(default_factory=dict)  # check id -> counts per group
    breakdowns: dict[tuple[str, tuple[str, ...]], pl.DataFrame] = field(default_factory=dict)
    engine: str = "auto"  # the Polars engine of the first pass, kept for the evidence
    slice_rows: int = 20_000_000  # rows a bounded run reads at a time for a heavy query
    remote: Any = None  # the engine's handle when the queries ran elsewhere (engine.backends)
    queries: int = 0  # queries sent so far


NAME = "__name__"
PREFIX = 100_000  # rows searched first for the repeated values a duplicates rule shows
ADDITIVE = ("count", "sum", "n_unique")  # zero, not null, for an entity with no rows


def locate(source: Source, ruleset_dir: Path, data_dir: Path | None,
           allow: tuple[Path, ...] = ()) -> Path:
    """The file of a source: under --data DIR by its file name (any supported format),
    else relative to the ruleset; never outside those roots (and the allowed ones)."""
    if data_dir is not None:
        root = data_dir.resolve()
        name = Path(source.path).name
        candidates = [root / name] + [root / (Path(name).stem + ext) for ext in FORMATS]
    else:
        root = ruleset_dir.resolve()
        candidates = [root / source.path]
    roots = [root, *(a.resolve() for a in allow)]
    for path in candidates:
        if path.is_file():
            resolved = path.resolve()  # a symlink counts where it points
            if not any(resolved.is_relative_to(r) for r in roots):
                raise AssessError(Problem(source.location, "path-outside",
                                          f"source `{source.name}`: {source.path} lies outside {root}",
                                          "keep data under the ruleset's folder, pass --data DIR, "
                                          "or add a root with --allow-path DIR"))
            return resolved
    looked = ", ".join(str(p) for p in candidates[:2])
    raise AssessError(Problem(source.location, "missing-file",
                              f"source `{source.name}`: no file at {looked}",
                              "check the path, or pass --data DIR holding the tables"))


def _is_utf8(path: Path) -> bool:
    with path.open("rb") as f:
        head = f.read(1 << 16)
    try:
        head.decode("utf-8")
        return True
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3  # only a character cut off at the end of the sample


def _csv_text(source: Source, path: Path) -> bytes | None:
    """None when Polars can scan the file as it is (UTF-8, BOM or not); else the file
    re-encoded as UTF-8 from the declared encoding, or from GB18030 (a superset of GBK,
    what Chinese Excel exports use) when the file is not UTF-8 and declares nothing."""
    encoding = source.encoding or ("utf-8" if _is_utf8(path) else "gb18030")
    if encoding.replace("-", "").lower() in ("utf8", "utf8sig"):
        return None
    try:
        return path.read_bytes().decode(encoding).encode("utf-8")
    except UnicodeDecodeError:
        raise AssessError(Problem(source.location, "encoding",
                                  f"source `{source.name}`: {path.name} is neither UTF-8 nor {encoding}",
                                  "save it as UTF-8 or set `encoding:` on the source")) from None


def _csv_header(path: Path, text: bytes | None) -> list[str]:
    import csv

    first = (text.decode("utf-8") if text is not None else
             path.open(encoding="utf-8-sig", errors="replace").readline()).splitlines()[:1]
    return next(csv.reader(first), []) if first else []


def _unique_header(source: Source, path: Path, names: list[Any]) -> None:
    """Two columns with one name would make every use of it ambiguous: refuse them."""
    names = [str(n) for n in names]
    seen: set[str] = set()
    twice = sorted({n for n in names if n in seen or seen.add(n)})  # one pass: 100,000 columns are fine
    if twice:
        raise AssessError(Problem(source.location, "duplicate-column",
                                  f"source `{source.name}`: {path.name} has the column "
                                  f"`{twice[0]}` more than once", "rename or remove the copies"))


XLSX_LIMIT = "ASSESS_MAX_XLSX_MB"  # the environment variable that raises the limit
XLSX_MB = 256  # megabytes a workbook may unpack to, by default
_FORMULA = re.compile(rb"<f[ >/]")


def _workbook_guard(source: Source, path: Path) -> None:
    """Before a workbook is read: its unpacked size (from the zip directory) under the
    limit, so a small file cannot unpack to gigabytes; and no formula without the value
    Excel saved with it (a workbook written by a script), which would read as empty."""
    import zipfile

    try:
        limit = int(os.environ.get(XLSX_LIMIT) or XLSX_MB)
    except ValueError:
        raise AssessError(Problem(source.location, "xlsx-too-large",
                                  f"{XLSX_LIMIT}={os.environ[XLSX_LIMIT]}: not a whole number of megabytes")) from None
    try:
        with zipfile.ZipFile(path) as book:
            size = sum(i.file_size for i in book.infolist())
            if size > limit * 1_000_000:
                raise AssessError(Problem(source.location, "xlsx-too-large",
                                          f"source `{source.name}`: {path.name} unpacks to {size / 1e6:,.0f} MB, "
                                          f"more than the limit of {limit:,} MB",
                                          f"set {XLSX_LIMIT} to raise it, or export the sheet to CSV or Parquet"))
            for name in book.namelist():
                if name.startswith("xl/worksheets/") and name.endswith(".xml"):
                    cell = _uncached_formula(book.read(name))
                    if cell:
                        raise AssessError(Problem(source.location, "xlsx-formula",
                                                  f"source `{source.name}`: cell {cell} of {path.name} holds a "
                                                  "formula with no saved value, which would read as empty",
                                                  "open and save the workbook in Excel, or export it to CSV"))
    except (zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        raise AssessError(Problem(source.location, "unreadable",
                                  f"source `{source.name}`: {path.name} is not an XLSX workbook ({exc})")) from None


def _uncached_formula(sheet: bytes) -> str | None:
    """The reference of the first formula cell without a saved value, or None."""
    for match in _FORMULA.finditer(sheet):
        start, end = sheet.rfind(b"<c ", 0, match.start()), sheet.find(b"</c>", match.end())
        cell = sheet[start:end]
        if b"<v>" not in cell:  # `<v />` (a script's workbook) or none; Excel saves `<v></v>` for ""
            ref = re.search(rb'\br="([A-Z]+[0-9]+)"', cell)
            return ref.group(1).decode() if ref else "?"
    return None


def scan(source: Source, path: Path) -> pl.LazyFrame:
    """A lazy scan of the file, with the declared column types where the format needs them."""
    declared = {c: TYPES[t] for c, t in (source.columns or {}).items()}
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            text = _csv_text(source, path)
            _unique_header(source, path, _csv_header(path, text))
            data = path if text is None else io.BytesIO(text)
            header = pl.read_csv(data, n_rows=0, encoding="utf8-lossy").columns
            options: dict[str, Any] = dict(
                try_parse_dates=True,
                # dates are read as text and parsed strictly by `conform`, so a malformed one
                # is an error, not a null or a guess at another format
                schema_overrides={c: pl.String if source.columns[c] in ("date", "datetime") else t
                                  for c, t in declared.items() if c in header})
            if text is None:
                return pl.scan_csv(path, **options)
            return pl.read_csv(io.BytesIO(text), **options).lazy()
        if suffix == ".parquet":
            return pl.scan_parquet(path)
        if suffix in (".xlsx", ".xls"):
            if suffix == ".xlsx":
                _workbook_guard(source, path)
            sheet = {"sheet_name": source.sheet} if source.sheet else {}
            header = pl.read_excel(path, has_header=False, read_options={"n_rows": 1}, **sheet)
            _unique_header(source, path, list(header.row(0)) if header.height else [])
            return pl.read_excel(path, **sheet).lazy()
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise AssessError(Problem(source.location, "unreadable",
                                  f"source `{source.name}`: cannot read {path.name}: {first_line(exc)}")) from None
    raise AssessError(Problem(source.location, "format",
                              f"source `{source.name}`: {path.suffix or 'no'} files are not supported",
                              "use csv, parquet or xlsx"))


def conform(source: Source, frame: pl.LazyFrame, used: set[str]) -> pl.LazyFrame:
    """Hold the frame to the source's contract before computing anything: every declared
    (and every used) column must exist; declared types are cast to."""
    try:
        schema = frame.collect_schema()
    except pl.exceptions.PolarsError as exc:
        raise AssessError(Problem(source.location, "unreadable",
                                  f"source `{source.name}`: {first_line(exc)}")) from None
    problems = []
    # borrowed columns are checked on the source they come from
    declared = {c: t for c, t in (source.columns or {}).items()
                if c not in source.borrowed}
    for column in sorted(set(declared) | used):
        if column not in schema:
            problems.append(Problem(source.location, "missing-column",
                                    f"source `{source.name}` has no column `{column}`",
                                    did_you_mean(column, schema.names()) or
                                    f"its columns: {', '.join(schema.names()[:20])}"))
    if problems:
        raise AssessError(problems)
    casts = [cast for column, kind in declared.items()
             if (cast := _cast(pl.col(column), schema[column], kind)) is not None]
    return frame.with_columns(casts) if casts else frame


def _cast(column: pl.Expr, have: Any, kind: str) -> pl.Expr | None:
    """The column in its declared type, or None when it has it. Text dates are read
    strictly as ISO 8601 (a malformed one is an error naming it, not a silent null);
    datetimes with a time zone become UTC, so every datetime compares with every other."""
    name = column.meta.output_name()
    if kind in ("date", "datetime") and have == pl.String:  # a year Python cannot hold fails the parse
        column = pl.when(_year_ok(column)).then(column).otherwise(pl.lit("year out of range"))
    if kind == "date":
        if have == pl.Date:
            return None
        if have == pl.String:
            return parse_date(column, "date", strict=True).alias(name)
        return column.cast(pl.Date).alias(name)
    if kind == "datetime":
        if isinstance(have, pl.Datetime) and have.time_zone is None:
            return None
        if isinstance(have, pl.Datetime):
            return column.dt.convert_time_zone("UTC").dt.replace_time_zone(None).alias(name)
        if have == pl.String:
            return parse_date(column, "datetime", strict=True).alias(name)
        return column.cast(pl.Datetime("us")).alias(name)
    return None if have == TYPES[kind] else column.cast(TYPES[kind]).alias(name)


def _year_ok(text: pl.Expr) -> pl.Expr:
    """A text date whose year is one of 1 to 9999, the years Python, JSON and Excel know
    (Polars reads 0000-01-01 and 10000-01-01 too, and every report would fail on them)."""
    return text.is_null() | (text.str.contains(r"^[0-9]{4}-") & ~text.str.starts_with("0000"))


def _bad_date(source: Source, frame: pl.LazyFrame | None) -> str | None:
    """The first value of a declared date or datetime column that is not ISO 8601, with
    its row, to put in the error instead of the parser's words."""
    temporal = [c for c, t in (source.columns or {}).items() if t in ("date", "datetime")
                and c not in source.borrowed]
    if frame is None or not temporal:
        return None
    text = frame.select(pl.int_range(pl.len()).alias("__row__"), *(pl.col(c).cast(pl.String) for c in temporal))
    for c in temporal:
        wrong = ~_year_ok(pl.col(c)) | parse_date(pl.col(c), source.columns[c]).is_null()
        try:
            bad = text.filter(pl.col(c).is_not_null() & wrong).head(1).collect()
        except pl.exceptions.PolarsError:
            continue
        if bad.height:
            kind = "date (2025-03-31)" if source.columns[c] == "date" else "date and time (2025-03-31T14:05:00)"
            return f"column '{c}', row {bad['__row__'][0] + 1}: `{bad[c][0]}` is not an ISO 8601 {kind}"
    return None


def _bad_number(source: Source, path: Path | None) -> str | None:
    """The first value of a declared number column of a CSV file that does not read as
    one, with its row (the CSV reader names only the column)."""
    numeric = [c for c, t in (source.columns or {}).items() if t in ("int", "float") and c not in source.borrowed]
    if path is None or path.suffix.lower() != ".csv" or not numeric:
        return None
    try:
        text = _csv_text(source, path)
        frame = pl.read_csv(path if text is None else io.BytesIO(text), infer_schema=False, columns=numeric)
    except (pl.exceptions.PolarsError, OSError, ValueError):
        return None
    for c in numeric:
        wrong = pl.col(c).str.strip_chars().cast(TYPES[source.columns[c]], strict=False).is_null()
        bad = frame.with_row_index("__row__").filter(pl.col(c).str.strip_chars().ne("") & wrong).head(1)
        if bad.height:
            value = bad[c][0]
            return (f"column '{c}', row {bad['__row__'][0] + 1}: `{value}` is not "
                    f"{'a whole number' if source.columns[c] == 'int' else 'a number'}"
                    + (" (write it without thousands separators)" if "," in value else ""))
    return None


def _text_summed(plan: Plan, name: str, frame: pl.LazyFrame | None) -> tuple[str, str] | None:
    """A measure adding up a column the file holds as text (a column with no value at all
    reads as text), and the declaration that fixes it."""
    if frame is None:
        return None
    schema = frame.collect_schema()
    for m in plan.ruleset.measures.values():
        column = m.of.tree.id if m.of is not None and isinstance(m.of.tree, ast.Name) else None
        if m.source == name and m.agg in ("sum", "mean", "median", "quantile") and column \
                and schema.get(column) == pl.String:
            return (f"measure `{m.name}` takes the {m.agg} of `{column}`, which the file holds as text "
                    "(a column with no value at all reads as text)",
                    f"declare its type on the source: `columns: {{{column}: float}}`")
    return None


def execute(plan: Plan, ruleset_dir: Path, data_dir: Path | None = None,
            progress: Callable[[str], None] = lambda _: None, allow: tuple[Path, ...] = (),
            engine: str = "auto", slice_rows: int = 20_000_000) -> Executed:
    """Every query of ``plan`` over its sources' files in one ``collect_all``. With the
    streaming engine, the aggregations whose state grows with the rows read (distinct
    counts, per-entity medians and quantiles, `unique` rules) are left to ``_bounded``,
    which runs them after the main pass over slices of at most ``slice_rows`` rows."""
    bounded = engine == "streaming"
    raw: dict[str, pl.LazyFrame] = {}
    scanned: dict[str, pl.LazyFrame] = {}  # as read, before the contract's types
    paths: dict[str, Path] = {}
    problems: list[Problem] = []
    files = [n for n, s in plan.ruleset.sources.items() if s.parent is None]
    for name, query in plan.sources.items():
        source = plan.ruleset.sources[name]
        if source.parent is not None:
            continue
        progress(f"opening {name} ({files.index(name) + 1}/{len(files)})")
        try:
            paths[name] = locate(source, ruleset_dir, data_dir, allow)
            scanned[name] = scan(source, paths[name])
            raw[name] = conform(source, scanned[name], query.columns)
        except AssessError as exc:
            problems += exc.problems
    if problems:
        raise AssessError(problems)
    frames, plain = _frames(plan, raw)
    queries = {name: frames[name].select(_light(q.aggregations, q.heavy, bounded))
               for name, q in plan.sources.items()}
    named = plan.ruleset.names[0] if plan.ruleset.names else None
    queries |= {f"{name}.by": frames[name].group_by(_key(plan, name))
                .agg(_light(q.per_entity, q.heavy, bounded) + ([_name(plan).first()] if name == named else []))
                for name, q in plan.sources.items() if q.per_entity}
    queries |= {f"{c.check.source}.{c.check.id}.groups": frames[c.check.source].group_by(c.check.by)
                .agg(c.aggregations()).sort(c.check.by, nulls_last=True)
                for c in plan.checks if c.check.by and c.rule.schema is None
                and not (bounded and c.rule.repeats is not None)}
    if named is not None and f"{named}.by" not in queries:  # else its names come with its measures
        queries[f"{named}.names"] = _names(plan, frames[named])
    if not bounded:
        queries |= {f"{source}.{'+'.join(by)}.breakdown": frames[source].group_by(list(by)).agg(aggs)
                    .sort(list(by), nulls_last=True) for (source, by), aggs in plan.breakdowns.items()}
    progress(f"reading and evaluating {len(files)} sources in one pass")
    # one collect_all: a source read by several queries is scanned once (a shared cache)
    try:
        results = dict(zip(queries, pl.collect_all(list(queries.values()), engine=engine)))
    except pl.exceptions.PolarsError:
        results = {n: _collect_one(plan, n.split(".")[0], q, scanned, paths) for n, q in queries.items()}
    if bounded:
        _bounded(plan, plain, results, slice_rows, progress)
    values = pl.concat([results[n] for n in plan.sources] + [_schemas(plan, raw)], how="horizontal")
    entities = _entities(plan, values, results) if plan.ruleset.by else None
    groups = {n.split(".")[1]: df for n, df in results.items() if n.endswith(".groups")}
    breakdowns = {(n.split(".")[0], tuple(n.split(".")[1].split("+"))): df
                  for n, df in results.items() if n.endswith(".breakdown")}
    return Executed(values, entities, frames, paths, groups, breakdowns, engine, slice_rows,
                    queries=len(queries))


def _schemas(plan: Plan, raw: dict[str, pl.LazyFrame]) -> pl.DataFrame:
    """The counts of `schema` rules, from each file's schema: no row is read."""
    counts: dict[str, int] = {}
    for c in plan.checks:
        if c.rule.schema is None:
            continue
        schema = raw[c.check.source].collect_schema()
        wrong = [name for name, kind in c.rule.schema.items()
                 if name not in schema or not _is(schema[name], kind)]
        counts |= {c.rows: len(c.rule.schema), c.failed: len(wrong)}
    return pl.DataFrame({k: [v] for k, v in counts.items()}, schema={k: pl.Int64 for k in counts})


def _is(dtype: Any, kind: str) -> bool:
    if kind == "int":
        return dtype.is_integer()
    if kind == "float":
        return dtype.is_numeric()
    if kind == "datetime":
        return isinstance(dtype, pl.Datetime)
    return dtype == TYPES[kind]


def _frames(plan: Plan, raw: dict[str, pl.LazyFrame]) -> tuple[dict[str, pl.LazyFrame],
                                                               dict[str, pl.LazyFrame]]:
    """Every source as the queries read it, by one rule (the README's table of rows):
    a source's rows are its file's rows (or its parent's rows, grouped), with its computed
    columns and borrowed columns added in the order they need each other, then its
    `where` applied. Whatever reads another source (a join, a derived source, a
    `references` rule) reads these same rows of it, after that source's `where`. The second
    dict holds the same frames without the `references` lookups, for queries that need
    none. A frame read by others is cached, so its file is scanned once."""
    sources = plan.ruleset.sources
    lookups = [c for c in plan.checks if c.rule.lookup]
    lent = {j.source for s in sources.values() for j in s.joins} | {s.parent for s in sources.values() if s.parent} \
        | {c.rule.lookup[0] for c in lookups}
    plain: dict[str, pl.LazyFrame] = {}

    def rows(name: str) -> pl.LazyFrame:
        if name in plain:
            return plain[name]
        source, query = sources[name], plan.sources[name]
        out = raw[name] if source.parent is None else \
            rows(source.parent).group_by(source.group_by, maintain_order=True).agg(plan.derived[name])
        for step in source.steps():
            if isinstance(step, str):
                out = out.with_columns(query.compute[step])
                continue
            # a `references` rule on the same key to the same source marks its values in this join
            marks = [c.check.id for c in lookups if c.check.source == name
                     and c.rule.lookup == (step.source, step.on)]
            out = _lookup(out, rows(step.source), step.on, step.columns, marks, source, step.location)
        out = out if query.where is None else out.filter(query.where)
        plain[name] = out.cache() if name in lent else out
        return plain[name]

    frames = {}
    for name, source in sources.items():
        out = rows(name)
        marked = {c.check.id for c in lookups if c.check.source == name
                  and any(c.rule.lookup == (j.source, j.on) for j in source.joins)}
        for c in lookups:  # references: one join per rule marks the keys found
            if c.check.source == name and c.check.id not in marked:
                other, on = c.rule.lookup
                out = _lookup(out, rows(other), on, (), [c.check.id], source, c.check.location)
        frames[name] = out
    return frames, plain


def _lookup(frame: pl.LazyFrame, other: pl.LazyFrame, on: tuple[tuple[str, str], ...],
            columns: tuple[str, ...], marks: list[str], source: Source, location: Any) -> pl.LazyFrame:
    """``frame`` with ``columns`` of ``other`` joined on the key pairs ``on``, and a
    ``<mark>.found`` column, True where the key exists in ``other``, for each of ``marks``.
    The first row of each key in ``other`` wins, so a duplicate key cannot multiply rows;
    a row with a null key matches nothing. Numeric keys match as numbers, whatever their
    types; a text key against a number is an error at the rule or join that asks it."""
    mine, theirs = frame.collect_schema(), other.collect_schema()
    keys = [f"__key{i}__" for i in range(len(on))]
    left, right = [], []
    for (own, lent), key in zip(on, keys):
        kind = _common_key(mine[own], theirs[lent]) if own in mine and lent in theirs else None
        if kind is False:
            raise AssessError(Problem(location, "key-type",
                                      f"source `{source.name}`: key `{own}` is {mine[own]} but `{lent}` "
                                      f"is {theirs[lent]}; they can never be equal",
                                      "declare both key columns with one type in the sources' `columns`"))
        left.append(pl.col(own) if kind is None else pl.col(own).cast(kind))
        right.append((pl.col(lent) if kind is None else pl.col(lent).cast(kind)).alias(key))
    lender = other.select(*right, *columns, *(pl.lit(True).alias(f"{m}.found") for m in marks)) \
        .unique(subset=keys, keep="first", maintain_order=True)
    return frame.join(lender, left_on=left, right_on=keys, how="left", maintain_order="left") \
        .drop(keys, strict=False)


def _common_key(a: Any, b: Any) -> Any:
    """The type two key columns are compared in: None when they already agree, False
    when they never can (text against a number)."""
    if a == b or a == pl.Null or b == pl.Null:
        return None
    if a.is_numeric() and b.is_numeric():
        return pl.Float64  # 2013 equals 2013.0: exact for integers up to 2**53
    if a.is_temporal() and b.is_temporal():
        return pl.Datetime("us")
    text = (pl.String, pl.Categorical, pl.Enum)
    if isinstance(a, text) or a in text:
        if isinstance(b, text) or b in text:
            return pl.String
    return False


def _key(plan: Plan, source: str) -> list[pl.Expr]:
    """The source's key columns under the ruleset's names, as text so sources agree."""
    columns = plan.ruleset.key_of(plan.ruleset.sources[source])
    return [pl.col(c).cast(pl.String).alias(b) for c, b in zip(columns, plan.ruleset.by)]


def _light(aggregations: list[pl.Expr], heavy: dict[str, pl.Expr | None],
           bounded: bool) -> list[pl.Expr]:
    """The aggregations of the main pass: all of them, unless a bounded run computes the
    heavy ones apart."""
    return [a for a in aggregations if not bounded or a.meta.output_name() not in heavy]


def _slices(frame: pl.LazyFrame, by: pl.Expr, rows: int, slice_rows: int) -> list[pl.LazyFrame]:
    """``frame`` in slices of about ``slice_rows`` of its ``rows``, split by a hash of ``by``,
    so that rows with the same ``by`` fall in the same slice."""
    parts = max(1, -(-rows // slice_rows))
    return [frame.filter(by.hash() % parts == i) for i in range(parts)] if parts > 1 else [frame]


def _bounded(plan: Plan, frames: dict[str, pl.LazyFrame], results: dict[str, pl.DataFrame],
             slice_rows: int, progress: Callable[[str], None]) -> None:
    """The heavy aggregations of a streaming run, into ``results``, each in a narrow query
    of its own, one at a time. Distinct counts, and anything per entity or per group, run
    over slices of the source (its rows split by a hash of the values counted, or of the
    entity or group key), so what they hold is a slice's, not the whole source's; an
    overall median cannot be sliced, but alone in its query it streams."""
    def slices(name: str, frame: pl.LazyFrame, by: pl.Expr) -> list[pl.LazyFrame]:
        return _slices(frame, by, int(results[name][f"{name}.{ROWS}"][0]), slice_rows)

    for name, q in plan.sources.items():
        frame = frames[name]
        overall = [a for a in q.aggregations if a.meta.output_name() in q.heavy]
        per_entity = [a for a in q.per_entity if a.meta.output_name() in q.heavy]
        if overall or per_entity:
            progress(f"distinct counts and medians of {name}, a slice at a time")
        for a in overall:
            values = q.heavy[a.meta.output_name()]
            if values is None:
                results[name] = results[name].hstack(frame.select(a).collect(engine="streaming"))
            else:  # the distinct values of disjoint slices add up
                pieces = [f.select(a).collect(engine="streaming") for f in slices(name, frame, values)]
                results[name] = results[name].hstack(pl.concat(pieces).sum())
        if per_entity:
            key = _key(plan, name)
            pieces = [f.group_by(key).agg(per_entity).collect(engine="streaming")
                      for f in slices(name, frame, pl.struct(key))]
            results[f"{name}.by"] = results[f"{name}.by"].join(
                pl.concat(pieces, how="vertical_relaxed"), on=plan.ruleset.by, how="left")
    for c in plan.checks:  # a duplicates rule per group: the counts of value slices add up
        if c.check.by and c.rule.repeats is not None:
            source = c.check.source
            pieces = [f.group_by(c.check.by).agg(c.aggregations()).collect(engine="streaming")
                      for f in slices(source, frames[source], c.rule.repeats)]
            results[f"{source}.{c.check.id}.groups"] = pl.concat(pieces).group_by(c.check.by) \
                .agg(pl.all().sum()).sort(c.check.by, nulls_last=True)
    for (source, by), aggs in plan.breakdowns.items():  # each group whole in one slice
        pieces = [f.group_by(list(by)).agg(aggs).collect(engine="streaming")
                  for f in slices(source, frames[source], pl.struct(list(by)))]
        results[f"{source}.{'+'.join(by)}.breakdown"] = \
            pl.concat(pieces, how="vertical_relaxed").sort(list(by), nulls_last=True)


def _name(plan: Plan) -> pl.Expr:
    return pl.col(plan.ruleset.names[1]).cast(pl.String).alias(NAME)


def _names(plan: Plan, frame: pl.LazyFrame) -> pl.LazyFrame:
    """Each entity's name: that of its first row (as ``first()`` in the group-by of the
    source's measures, when it has any: one scan and one grouping less)."""
    return frame.select(*_key(plan, plan.ruleset.names[0]), _name(plan)).unique(subset=plan.ruleset.by, keep="first")


def _entities(plan: Plan, values: pl.DataFrame, results: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """One row per entity: the grouped measures of every source joined on the key, plus
    the measures that apply to every entity (shared) or are allocated between them."""
    by = plan.ruleset.by
    parts = [results[n].lazy() for n in results if n.endswith((".by", ".names"))]
    frame = parts[0] if parts else pl.LazyFrame(schema={b: pl.String for b in by})
    for part in parts[1:]:  # lazily: Polars runs the joins of a million entities in parallel
        frame = frame.join(part, on=by, how="full", coalesce=True)
    frame = frame.filter(pl.all_horizontal(pl.col(b).is_not_null() for b in by)).sort(by).collect()
    if NAME not in frame.columns:
        frame = frame.with_columns(pl.lit(None, pl.String).alias(NAME))
    filled, allocated = [], []  # allocation reads the filled values, so it comes after
    for m in plan.ruleset.measures.values():
        if m.by:  # a breakdown: a table of its own, not a value per entity
            continue
        for v in plan.variants:
            name = m.name + v.suffix
            overall = pl.lit(values[name][0])
            if m.shared:
                filled.append(overall.alias(name))
            elif m.allocate:
                base = pl.col(m.allocate + v.suffix)
                # nothing to allocate by gives no value (the KPI says why), not NaN
                allocated.append(pl.when(base.sum() != 0).then(overall * base / base.sum()).alias(name))
            elif name not in frame.columns:
                filled.append(pl.lit(0.0 if m.agg in ADDITIVE else None).alias(name))
            elif m.agg in ADDITIVE:
                filled.append(pl.col(name).fill_null(0))
    # data-quality counts are overall: every entity sees them, for KPIs built on them
    filled += [pl.lit(values[c][0]).alias(c) for p in plan.checks for c in (p.rows, p.failed)]
    return frame.with_columns(filled).with_columns(allocated)


def _collect_one(plan: Plan, name: str, query: pl.LazyFrame, raw: dict[str, pl.LazyFrame],
                 paths: dict[str, Path]) -> pl.DataFrame:
    """Run one source alone, to say which one broke and why."""
    try:
        return query.collect()
    except pl.exceptions.PolarsError as exc:
        source = plan.ruleset.sources[name]
        message = _bad_date(source, raw.get(name)) or _bad_number(source, paths.get(name)) or first_line(exc)
        hint = ("save the file as UTF-8 or set `encoding:` on the source" if "utf-8" in message
                else "check the column types the ruleset declares against the file")
        if "dtype `str`" in message and (text := _text_summed(plan, name, raw.get(name))):
            message, hint = text
        raise AssessError(Problem(plan.ruleset.sources[name].location, "data",
                                  f"source `{name}`: {message}", hint)) from None


def failing_rows(plan: CheckPlan, executed: Executed, key: list[str],
                 repeated: pl.Series | None = None) -> pl.LazyFrame:
    """Every failing row of a rule: the source's key and the columns the rule names; for a
    duplicates rule given ``repeated`` values, only the rows of those values."""
    frame = executed.frames[plan.check.source]
    if plan.where is not None:  # scope first, so window rules (duplicates) see only it
        frame = frame.filter(plan.where)
    columns = list(dict.fromkeys(key + plan.check.by + plan.columns))
    failing = plan.failing if repeated is None else plan.rule.repeats.is_in(repeated.implode())
    return frame.filter(failing).select(columns)


def _repeated(plans: list[CheckPlan], executed: Executed, limit: int) -> dict[str, pl.Series]:
    """The values whose rows a duplicates rule shows as samples: the ``limit`` smallest
    repeated within the first PREFIX rows in scope, which is cheap and almost always
    enough; when none repeats there, the smallest in the whole source (in slices, on a
    bounded run)."""
    def smallest(plan: CheckPlan, frame: pl.LazyFrame) -> pl.LazyFrame:
        value = pl.col("value")
        return (frame.group_by(plan.rule.repeats.alias("value")).len()
                .filter(value.is_not_null() & (pl.col("len") > 1)).select(value.sort().head(limit)))

    scoped = [executed.frames[p.check.source] if p.where is None else
              executed.frames[p.check.source].filter(p.where) for p in plans]
    first = pl.collect_all([smallest(p, f.head(PREFIX)) for p, f in zip(plans, scoped)],
                           engine=executed.engine) if plans else []
    out = {}
    for p, frame, found in zip(plans, scoped, first):
        if found.height == 0:
            rows = source_rows(executed, p.check.source)
            pieces = [smallest(p, f).collect(engine=executed.engine) for f in
                      _slices(frame, p.rule.repeats, rows, executed.slice_rows
                              if executed.engine == "streaming" else max(rows, 1))]
            found = pl.concat(pieces).sort("value").head(limit)
        out[p.check.id] = found["value"]
    return out


def samples(plans: list[CheckPlan], executed: Executed, key: dict[str, list[str]],
            limit: int) -> dict[str, pl.DataFrame]:
    """Up to ``limit`` failing rows for each of ``plans``, in one collect_all (after the
    repeated values of the duplicates rules)."""
    plans = [p for p in plans if limit > 0 and p.rule.schema is None]
    if not plans:
        return {}
    if executed.remote is not None:
        from .backends.ibis import samples as remote_samples
        return remote_samples(executed.remote, plans, key, limit)
    repeated = _repeated([p for p in plans if p.rule.repeats is not None], executed, limit)
    # the first failing rows by the source's key (by the columns shown when it has none):
    # an order every engine can give, where a file's row order exists only in Polars
    wanted = {p.check.id: (rows := failing_rows(p, executed, key.get(p.check.source, []),
                                                repeated.get(p.check.id)))
              .sort(rows.collect_schema().names(), nulls_last=True).head(limit)
              for p in plans}
    executed.queries += len(wanted)
    return dict(zip(wanted, pl.collect_all(list(wanted.values()), engine=executed.engine)))


def failed_values(plans: list[CheckPlan], executed: Executed,
                  limit: int) -> dict[str, tuple[int, list[dict[str, Any]]]]:
    """For each of ``plans`` (rules over a key, such as `references`), the number of
    distinct failing keys and the ``limit`` most frequent, each ``{value, rows}`` (most
    rows first, then by value): "721 unknown tail numbers, 52,606 flights". One grouping
    of the failing rows each, in one collect_all."""
    if not plans:
        return {}
    if executed.remote is not None:
        from .backends.ibis import failed_values as remote_values
        return remote_values(executed.remote, plans, limit)
    grouped = [failing_rows(p, executed, []).group_by(p.columns).len("rows") for p in plans]
    out = {}
    for p, frame in zip(plans, pl.collect_all(grouped, engine=executed.engine)):
        top = frame.sort(["rows", *p.columns], descending=[True] + [False] * len(p.columns),
                         nulls_last=True).head(limit)
        out[p.check.id] = (frame.height, [
            {"value": row[p.columns[0]] if len(p.columns) == 1 else {c: row[c] for c in p.columns},
             "rows": row["rows"]} for row in top.iter_rows(named=True)])
    return out


def write_evidence(plans: list[CheckPlan], executed: Executed, key: dict[str, list[str]],
                   folder: Path) -> list[Path]:
    """Every failing row of each of ``plans`` to FOLDER/<check>.csv, streamed to disk so
    memory stays bounded whatever the count."""
    if executed.remote is not None:
        from .backends.ibis import write_evidence as remote_evidence
        return remote_evidence(executed.remote, plans, key, folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for p in plans:
        if p.rule.schema is not None:
            continue
        target = folder / f"{p.check.id}.csv"
        temporary = folder / f".{p.check.id}.csv.tmp"
        try:
            rows = failing_rows(p, executed, key.get(p.check.source, []))
            rows.with_columns(formula_safe(rows)).sink_csv(temporary)
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
        written.append(target)
    return written


def formula_safe(rows: pl.LazyFrame) -> list[pl.Expr]:
    """Text columns with a value a spreadsheet would run as a formula (starting with = + -
    @ tab or carriage return) prefixed with an apostrophe, as OWASP advises for CSV."""
    from .safe import FORMULA_START

    starts = "^[" + "".join("\\" + c if c in "-" else c for c in FORMULA_START) + "]"
    return [pl.when(pl.col(c).str.contains(starts)).then(pl.lit("'") + pl.col(c)).otherwise(pl.col(c)).alias(c)
            for c, t in rows.collect_schema().items() if t == pl.String]


def source_rows(executed: Executed, name: str) -> int:
    return int(executed.values[f"{name}.{ROWS}"][0])
