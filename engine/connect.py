"""Where `--data` points: a folder of files, or a database reached through Ibis.

Credentials come from the URL given on the command line, or from each client's usual
environment variables and files (PGPASSWORD, PGUSER, ~/.pgpass, PGSERVICE: libpq reads
them); never from a ruleset. Every message naming a database names it through `mask`,
so a password never reaches an error, a report, the history or the terminal.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Iterable
from urllib.parse import urlsplit

from .errors import AssessError, Location, Problem, did_you_mean

DUCKDB_SUFFIXES = (".duckdb", ".ddb")
# the optional dependency that brings each engine's driver: pip install 'assess[EXTRA]'
# (DuckDB is a dependency of assess itself)
EXTRAS = {"postgres": "postgres", "pyspark": "spark"}
DATA = Location("--data")

_URL_PASSWORD = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^/\s:@]*:)[^@\s]*@")
_KEY_PASSWORD = re.compile(r"(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&;]+)")


def mask(text: str) -> str:
    """The text with every password hidden: in URLs (`scheme://user:***@host`) and in
    key-value connection strings and URL queries (`password=***`)."""
    return _KEY_PASSWORD.sub(r"\1***", _URL_PASSWORD.sub(r"\1***@", text))


@dataclass(frozen=True)
class Database:
    """A database given to --data. `url` may hold a password: show `shown`, never `url`."""

    kind: str  # duckdb | postgres
    url: str = field(repr=False)
    path: Path | None = None  # of a DuckDB file

    @property
    def shown(self) -> str:
        return mask(self.url)

    def __str__(self) -> str:
        return self.shown


def data_location(value: str) -> Path | Database:
    """What a `--data` value names: a folder, `duckdb:///crm.duckdb` (relative, as in
    SQLAlchemy's `sqlite:///`; four slashes for an absolute path), a `.duckdb` file's path,
    or `postgresql://user@host:port/db` (any libpq URL, e.g. `?host=/run/postgresql`)."""
    scheme = value.split("://", 1)[0].lower() if "://" in value else ""
    if scheme in ("postgresql", "postgres"):
        return Database("postgres", value)
    if scheme == "duckdb":
        parts = urlsplit(value)
        path = parts.netloc + (parts.path if parts.netloc else parts.path.removeprefix("/"))
        if not path:
            raise AssessError(Problem(DATA, "data", f"{mask(value)} names no database file",
                                      "write duckdb:///crm.duckdb (relative) or duckdb:////abs/crm.duckdb"))
        return Database("duckdb", value, Path(path))
    if scheme:
        raise AssessError(Problem(DATA, "data", f"{mask(value)}: `{scheme}` is not a database assess reads",
                                  "give a folder, duckdb:///FILE.duckdb or postgresql://USER@HOST/DB"))
    if Path(value).suffix.lower() in DUCKDB_SUFFIXES:
        return Database("duckdb", value, Path(value))
    return Path(value)


def driver(backend: str) -> Any:
    """The `ibis` module with `backend` usable, or a clear error naming the extra to install."""
    try:
        import ibis

        if backend == "duckdb":
            import duckdb  # noqa: F401
        elif backend == "postgres":
            import psycopg  # noqa: F401
        elif backend == "pyspark":
            import pyspark  # noqa: F401
        return ibis
    except ImportError as exc:
        extra = EXTRAS.get(backend)
        raise AssessError(Problem(DATA, "driver", f"the {extra or backend} engine is not installed ({exc.name} is missing)",
                                  f"pip install 'assess[{extra}]'" if extra else "reinstall assess")) from None


def connect(db: Database, create: bool = False) -> Any:
    """An Ibis backend connected to the database; `create` makes a missing DuckDB file
    (for writing) instead of refusing it."""
    ibis = driver(db.kind)
    if db.kind == "duckdb":
        assert db.path is not None
        if not create and not db.path.is_file():
            raise AssessError(Problem(DATA, "connect", f"{db.shown}: no such DuckDB file ({db.path.resolve()})",
                                      "make one with: assess sample-data --out crm.duckdb"))
        try:
            return duckdb(str(db.path), read_only=not create)
        except Exception as exc:  # duckdb raises its own IOException, InvalidInputException, ...
            raise AssessError(Problem(DATA, "connect", f"cannot open {db.shown}: {_reason(exc)}")) from None
    import psycopg

    try:
        # libpq parses the URL, so ?host=/socket/dir, sslmode, PGPASSWORD and ~/.pgpass all work
        return ibis.postgres.from_connection(psycopg.connect(db.url, autocommit=True))
    except psycopg.Error as exc:
        raise AssessError(Problem(DATA, "connect", f"cannot connect to {db.shown}: {_reason(exc)}",
                                  "check the host, port, user and database; a password comes from the URL, "
                                  "PGPASSWORD or ~/.pgpass")) from None


def duckdb(database: str = ":memory:", read_only: bool = False) -> Any:
    """An Ibis DuckDB backend without DuckDB's progress bar, which it would draw over the
    terminal (and into a captured stderr) for any query of over 2 s."""
    con = driver("duckdb").duckdb.connect(database, read_only=read_only)
    con.raw_sql("SET enable_progress_bar = false")
    return con


def _reason(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return mask("; ".join(lines[:2]) or type(exc).__name__)


def table_name(source: Any) -> tuple[str | None, str]:
    """(schema, table) a source reads in a database: its own `table:` and `schema:`, else
    the table named like its file (`sample-data/customers.csv` -> `customers`)."""
    return getattr(source, "schema", None), getattr(source, "table", None) or PurePosixPath(source.path).stem


def open_table(con: Any, db: Database, source: Any) -> Any:
    """The Ibis table a source reads, or an error at the source's line saying which tables
    there are."""
    schema, name = table_name(source)
    where = f"{schema}.{name}" if schema else name
    try:
        schemas = con.list_databases() if schema else []
        if schema and schema not in schemas:  # else its "no tables" would send one looking for a table
            raise AssessError(Problem(
                source.location, "no-schema", f"source `{source.name}`: no schema `{schema}` in {db.shown}",
                (did_you_mean(schema, schemas) or f"its schemas: {', '.join(sorted(schemas)[:20])}")
                + "; or leave `schema:` out to read the default one"))
        tables = con.list_tables(database=schema) if schema else con.list_tables()
    except AssessError:
        raise
    except Exception as exc:  # the driver's own error: a lost connection, no right to list
        raise AssessError(Problem(source.location, "no-table", f"source `{source.name}`: cannot list the tables "
                                  f"of {f'schema `{schema}` in ' if schema else ''}{db.shown}: {_reason(exc)}")) from None
    if name not in tables:
        raise AssessError(Problem(
            source.location, "no-table", f"source `{source.name}`: no table `{where}` in {db.shown}",
            did_you_mean(name, tables) or (f"its tables: {', '.join(sorted(tables)[:20])}" if tables else
                                           "the database has no tables; load some, e.g. with assess sample-data --out")
            + "; or name the table with `table:` (and `schema:`) on the source"))
    return con.table(name, database=schema) if schema else con.table(name)


def write_tables(db: Database, frames: Iterable[tuple[str, Any]]) -> dict[str, int]:
    """Write each (name, Polars frame) as a table, replacing one of that name; PostgreSQL
    is loaded with COPY, the fast path, DuckDB from Arrow. Returns {name: rows}."""
    con = connect(db, create=True)
    counts = {}
    try:
        for name, frame in frames:
            if db.kind == "postgres":
                _copy(con, name, frame)
            else:
                con.create_table(name, frame.to_arrow(), overwrite=True)
            counts[name] = frame.height
    finally:
        con.disconnect()
    return counts


def _copy(con: Any, name: str, frame: Any) -> None:
    import ibis

    con.create_table(name, schema=ibis.Schema.from_polars(frame.schema), overwrite=True)
    # polars quotes an empty string ("") and leaves a null unquoted and empty, as COPY's
    # csv format reads them
    text = frame.write_csv(include_header=False, null_value="", datetime_format="%Y-%m-%dT%H:%M:%S%.f")
    with con.con.cursor() as cursor, cursor.copy(f'COPY "{name}" FROM STDIN (FORMAT csv)') as copy:
        copy.write(text.encode())


def spark(master: str = "local[2]", partitions: int = 4) -> Any:
    """A Spark session from the standard settings: Spark Connect when SPARK_REMOTE is set,
    the master of spark-submit when run by it, else a session of our own on `master`, with
    no UI and `partitions` shuffle partitions. A cluster's session keeps its own settings
    (`spark-submit --conf`, spark-defaults.conf, the Connect server's): 4 shuffle
    partitions would make 4 tasks of every grouping there. Times are in UTC on every
    session, as the results depend on it."""
    driver("pyspark")
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("assess").config("spark.sql.session.timeZone", "UTC")
    # spark-submit starts the JVM first and tells the Python driver its port; a Connect
    # server refuses (with a warning) any setting but a session's
    if not (os.environ.get("SPARK_REMOTE") or os.environ.get("PYSPARK_GATEWAY_PORT")):
        builder = (builder.master(master).config("spark.ui.enabled", "false")
                   .config("spark.ui.showConsoleProgress", "false")
                   .config("spark.sql.shuffle.partitions", str(partitions)))
    session = builder.getOrCreate()
    if not os.environ.get("SPARK_REMOTE"):  # a Spark Connect session has no context of its own
        session.sparkContext.setLogLevel("ERROR")  # its warnings would drown the scorecard
    return session
