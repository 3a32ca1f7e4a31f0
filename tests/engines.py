"""Real engines for the tests, as pytest fixtures (a plugin loaded by conftest.py).

- `postgres_server`: a PostgreSQL server of the session's own, from a temp folder: a
  Unix socket there and 127.0.0.1 on a free port, password logins over TCP, fsync off.
  `postgres` gives each test an empty schema of its own on it, the default of its URL.
- `spark_session`: one Spark `local[2]` session for the whole run (UI off, UTC).
- `duckdb_file`: a DuckDB file in the test's temp folder.
- `engine`: each of duckdb, postgres and spark in turn, able to `load` a folder of
  CSV/Parquet tables with the types a ruleset declares.

Nothing is mocked and nothing is skipped: a machine without `initdb` or `java` fails
these tests with what to install (`.ci/run` installs both).
"""
from __future__ import annotations

import glob
import itertools
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote

import polars as pl
import pytest

from engine.connect import Database, connect, spark, table_name, write_tables
from engine.execute import conform, scan


@dataclass(frozen=True)
class Postgres:
    root: Path  # the server's folder: data, log and socket
    port: int
    user: str
    password: str

    def url(self, schema: str = "public") -> str:
        """The URL of the database over TCP, with the password in it, reading `schema`."""
        return (f"postgresql://{self.user}:{quote(self.password)}@127.0.0.1:{self.port}/postgres"
                f"?options=-csearch_path%3D{schema}")

    def create(self, name: str) -> Database:
        """A database of its own, as far as a test can tell: a new schema, which the URL
        makes the default one (a CREATE DATABASE costs ten times more)."""
        import psycopg

        # over the socket, where the tests' own user is trusted
        with psycopg.connect(host=str(self.root), port=self.port, user=self.user, dbname="postgres",
                             autocommit=True) as con:
            con.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
            con.execute(f'CREATE SCHEMA "{name}"')
        return Database("postgres", self.url(name))


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    initdb = found[-1] if found else shutil.which("initdb")
    if not initdb:
        pytest.fail("no PostgreSQL server (initdb) on this machine: apt-get install postgresql "
                    "(.ci/run does it)")
    return Path(initdb).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_postgres() -> Postgres:
    """initdb and pg_ctl start in a new temp folder; as root through `runuser -u postgres`,
    since the server refuses to run as root."""
    bin_dir = _pg_bin()
    root = Path(tempfile.mkdtemp(prefix="pg"))  # short: a socket path has at most 107 bytes
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    password = "pw-" + secrets.token_hex(8)
    (root / "pw").write_text(password)
    if as_user:
        shutil.chown(root, "postgres")
        shutil.chown(root / "pw", "postgres")
    run = dict(check=True, capture_output=True, text=True)
    try:
        subprocess.run(as_user + [str(bin_dir / "initdb"), "-D", str(root / "data"), "-U", "assess",
                                  "--pwfile", str(root / "pw"), "--auth-local=trust",
                                  "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync"], **run)
        port = _free_port()
        options = (f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={root} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        subprocess.run(as_user + [str(bin_dir / "pg_ctl"), "-D", str(root / "data"), "-l", str(root / "log"),
                                  "-o", options, "-w", "start"], **run)
    except subprocess.CalledProcessError as exc:
        log = (root / "log").read_text() if (root / "log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"PostgreSQL did not start: {exc.cmd[len(as_user)]}: {exc.stderr}{log}")
    return Postgres(root, port, "assess", password)


def stop_postgres(server: Postgres) -> None:
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run(as_user + [str(_pg_bin() / "pg_ctl"), "-D", str(server.root / "data"), "-m", "immediate",
                              "stop"], capture_output=True)
    shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Postgres]:
    server = start_postgres()
    yield server
    stop_postgres(server)


_numbers = itertools.count()


@pytest.fixture
def postgres(postgres_server: Postgres) -> Database:
    """An empty schema of the test's own on the session's server, the default of its URL."""
    return postgres_server.create(f"t{next(_numbers)}")


@pytest.fixture(scope="session")
def spark_session() -> Iterator[Any]:
    if not shutil.which("java") and not os.environ.get("JAVA_HOME"):
        pytest.fail("Spark needs Java 17 or newer: apt-get install openjdk-17-jre-headless (.ci/run does it)")
    session = spark("local[2]", partitions=2)
    yield session
    session.stop()


@pytest.fixture(scope="session")
def spark_views() -> dict[str, Any]:
    """What the Spark session's temp views hold (see Engine.load)."""
    return {}


@pytest.fixture
def duckdb_file(tmp_path: Path) -> Database:
    """A DuckDB database (a file not made yet) in the test's temp folder."""
    return Database("duckdb", f"duckdb:///{tmp_path / 'crm.duckdb'}", tmp_path / "crm.duckdb")


def read_folder(folder: Path, ruleset: Path | None = None) -> dict[str, pl.DataFrame]:
    """Every table of a folder of CSV/Parquet files as a frame, by its table name: each
    file a ruleset's source reads with the types the source declares (read as `run`
    reads it), every other file with the types Polars infers."""
    frames: dict[str, pl.DataFrame] = {}
    if ruleset is not None:
        from engine.validate import load_ruleset

        for source in load_ruleset(ruleset).sources.values():
            path = folder / Path(source.path).name
            if source.parent is None and path.is_file():
                frames[table_name(source)[1]] = conform(source, scan(source, path), set()).collect()
    for path in sorted(folder.iterdir()):
        if path.stem not in frames and path.suffix == ".csv":
            frames[path.stem] = pl.read_csv(path, try_parse_dates=True)
        elif path.stem not in frames and path.suffix == ".parquet":
            frames[path.stem] = pl.read_parquet(path)
    return frames


@dataclass
class Engine:
    """One engine under test: `load` puts tables in it and returns an Ibis backend on
    them; `data` is what `--data` takes for it (None for Spark, which reads files)."""

    name: str
    data: Database | None
    session: Any = None  # Spark's
    loaded: dict[str, Any] | None = None  # Spark: what its temp views hold now, kept for the run

    def load(self, folder: Path, ruleset: Path | None = None) -> Any:
        if self.data is not None:
            write_tables(self.data, read_folder(folder, ruleset).items())
            return connect(self.data)
        import ibis

        # every Spark job costs a second or more: the same folder is loaded once a run
        files = sorted((p.name, p.stat().st_mtime_ns) for p in folder.iterdir())
        wanted = {"folder": folder.resolve(), "ruleset": ruleset and ruleset.resolve(), "files": files}
        if self.loaded != wanted:
            for table in self.session.catalog.listTables():  # a test sees only its own tables
                if table.isTemporary:
                    self.session.catalog.dropTempView(table.name)
            for name, frame in read_folder(folder, ruleset).items():
                self.session.createDataFrame(frame.to_arrow()).createOrReplaceTempView(name)
            self.loaded.clear()
            self.loaded.update(wanted)
        return ibis.pyspark.connect(self.session)


ENGINES = ["duckdb", "postgres", pytest.param("spark", marks=pytest.mark.spark)]


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> Engine:
    """Each engine in turn (the Spark session starts only for a test that asks for it)."""
    if request.param == "duckdb":
        return Engine("duckdb", request.getfixturevalue("duckdb_file"))
    if request.param == "postgres":
        return Engine("postgres", request.getfixturevalue("postgres"))
    return Engine("spark", None, request.getfixturevalue("spark_session"), request.getfixturevalue("spark_views"))


def assert_no_secret(secret: str, *where: str | bytes | Path) -> None:
    """Fail if the secret (or its URL-encoded form) is in any of the texts, or in any file
    under the paths: XLSX and other zip files are unzipped, Parquet files read, since
    either would hide a plain password from a byte search."""
    needles = {secret.encode(), quote(secret).encode()}

    def contents(item: str | bytes | Path) -> Iterator[tuple[str, bytes]]:
        if isinstance(item, str):
            yield "text", item.encode()
        elif isinstance(item, bytes):
            yield "bytes", item
        else:
            for path in sorted(item.rglob("*")) if item.is_dir() else [item]:
                if not path.is_file():
                    continue
                data = path.read_bytes()
                yield str(path), data
                if zipfile.is_zipfile(path):
                    with zipfile.ZipFile(path) as z:
                        for member in z.namelist():
                            yield f"{path}!{member}", z.read(member)
                if data[:4] == b"PAR1":
                    yield f"{path} (rows)", pl.read_parquet(path).write_csv().encode()
                    yield f"{path} (metadata)", repr(pl.read_parquet_metadata(path)).encode()

    for item in where:
        for place, data in contents(item):
            for needle in needles:
                assert needle not in data, f"the password appears in {place}"
