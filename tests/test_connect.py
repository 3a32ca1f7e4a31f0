"""`--data` as a database: parsing, masking credentials, connecting, finding a source's
table, and `assess sample-data --out DATABASE`, on a real DuckDB file and a real
PostgreSQL server (tests/engines.py)."""
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from conftest import ROOT
from engine.cli import main
from engine.connect import Database, connect, data_location, mask, open_table
from engine.errors import AssessError
from engine.model import Source
from engine.errors import Location
from engines import Postgres, assert_no_secret, read_folder

RULESET = ROOT / "rulesets" / "crm_assessment.yaml"


@pytest.mark.parametrize("text,shown", [
    ("postgresql://ann:s3cret@db.example:5432/crm", "postgresql://ann:***@db.example:5432/crm"),
    ("cannot connect to postgres://ann:p%40ss@h/crm: refused", "cannot connect to postgres://ann:***@h/crm: refused"),
    ("host=h user=ann password=s3cret dbname=crm", "host=h user=ann password=*** dbname=crm"),
    ("host=h password='se cret' dbname=crm", "host=h password=*** dbname=crm"),
    ("postgresql://h/crm?user=ann&password=s3cret&sslmode=require",
     "postgresql://h/crm?user=ann&password=***&sslmode=require"),
    ("postgresql://ann@h:5432/crm", "postgresql://ann@h:5432/crm"),  # nothing to hide
    ("duckdb:///crm.duckdb", "duckdb:///crm.duckdb"),
])
def test_mask_hides_passwords_only(text, shown):
    assert mask(text) == shown


def test_a_database_never_prints_its_password():
    db = data_location("postgresql://ann:s3cret@h/crm")
    assert isinstance(db, Database) and db.kind == "postgres"
    assert_no_secret("s3cret", str(db), repr(db), f"{db}", db.shown)


@pytest.mark.parametrize("value,kind,path", [
    ("duckdb:///crm.duckdb", "duckdb", "crm.duckdb"),          # relative, as sqlite:/// in SQLAlchemy
    ("duckdb:///data/crm.duckdb", "duckdb", "data/crm.duckdb"),
    ("duckdb:////abs/crm.duckdb", "duckdb", "/abs/crm.duckdb"),
    ("duckdb://crm.duckdb", "duckdb", "crm.duckdb"),
    ("out/crm.duckdb", "duckdb", "out/crm.duckdb"),
    ("crm.DDB", "duckdb", "crm.DDB"),
    ("postgresql://ann@h/crm", "postgres", None),
    ("postgres://ann@h/crm", "postgres", None),
])
def test_data_location_of_a_database(value, kind, path):
    db = data_location(value)
    assert isinstance(db, Database) and db.kind == kind
    assert db.path == (Path(path) if path else None)


def test_data_location_of_a_folder_and_of_an_unknown_scheme():
    assert data_location("rulesets/sample-data") == Path("rulesets/sample-data")
    with pytest.raises(AssessError) as caught:
        data_location("mysql://ann:s3cret@h/crm")
    assert "`mysql` is not a database assess reads" in str(caught.value)
    assert_no_secret("s3cret", str(caught.value))


def test_a_missing_duckdb_file_is_named(tmp_path):
    with pytest.raises(AssessError) as caught:
        connect(Database("duckdb", "duckdb:///nothing.duckdb", tmp_path / "nothing.duckdb"))
    assert "no such DuckDB file" in str(caught.value) and "assess sample-data --out" in str(caught.value)


def test_wrong_password_gives_the_server_reason_and_no_password(postgres_server: Postgres):
    url = postgres_server.url().replace(postgres_server.password, "wrong-Pa55")
    with pytest.raises(AssessError) as caught:
        connect(Database("postgres", url))
    message = str(caught.value)
    assert message.startswith("--data: error [connect] cannot connect to postgresql://assess:***@127.0.0.1")
    assert "password authentication failed" in message
    assert_no_secret("wrong-Pa55", message)


def test_no_server_at_the_port(postgres_server: Postgres):
    from engines import _free_port

    url = f"postgresql://assess:Pa55word@127.0.0.1:{_free_port()}/crm"
    with pytest.raises(AssessError) as caught:
        connect(Database("postgres", url))
    assert "cannot connect to postgresql://assess:***@127.0.0.1" in str(caught.value)
    assert "refused" in str(caught.value).lower()
    assert_no_secret("Pa55word", str(caught.value))


def test_password_from_pgpassword_and_from_a_pgpass_file(postgres_server: Postgres, monkeypatch, tmp_path):
    bare = postgres_server.url().replace(f":{postgres_server.password}@", "@")  # the URL, less its password
    assert postgres_server.password not in bare
    monkeypatch.setenv("PGPASSWORD", postgres_server.password)
    assert connect(Database("postgres", bare)).raw_sql("select 41 + 1").fetchone() == (42,)
    monkeypatch.delenv("PGPASSWORD")
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"127.0.0.1:{postgres_server.port}:*:assess:{postgres_server.password}\n")
    pgpass.chmod(0o600)  # libpq ignores a pgpass file others can read
    monkeypatch.setenv("PGPASSFILE", str(pgpass))
    assert connect(Database("postgres", bare)).raw_sql("select 6 * 7").fetchone() == (42,)


def source(path: str, **keys) -> Source:
    return Source("customers", path, Location("r.yaml", 7, 5), **keys)


def test_a_source_reads_the_table_named_like_its_file_or_its_own(postgres: Database):
    con = connect(postgres)
    con.raw_sql("create table customers (id int); insert into customers values (1), (2);"
                "drop schema if exists crm cascade; create schema crm;"
                "create table crm.clients (id int); insert into crm.clients values (3)")
    assert open_table(con, postgres, source("sample-data/customers.csv")).count().execute() == 2
    own = open_table(con, postgres, source("sample-data/customers.csv", table="clients", schema="crm"))
    assert own.id.sum().execute() == 3


def test_no_such_table_says_where_and_what_there_is(postgres: Database):
    con = connect(postgres)
    con.raw_sql("create table customers (id int)")
    with pytest.raises(AssessError) as caught:
        open_table(con, postgres, source("data/custmers.csv"))
    message = str(caught.value)
    assert message.startswith("r.yaml:7:5: error [no-table] source `customers`: no table `custmers` in postgresql://assess:***@")
    assert "did you mean `customers`?" in message
    with pytest.raises(AssessError) as caught:
        open_table(con, postgres, source("x.csv", table="clients", schema="nowhere"))
    assert "no schema `nowhere` in postgresql://assess:***@" in str(caught.value)
    assert "its schemas: " in str(caught.value) and "public" in str(caught.value)
    assert_no_secret(urlsplit(postgres.url).password, str(caught.value))


def test_a_missing_schema_is_named_with_the_one_meant(postgres: Database, duckdb_file: Database):
    connect(postgres).raw_sql("drop schema if exists sales cascade; create schema sales; create table sales.deals (id int)")
    duck = connect(duckdb_file, create=True)
    duck.raw_sql("create schema sales; create table sales.deals (id int)")
    duck.disconnect()
    for db in (postgres, duckdb_file):
        con = connect(db)
        with pytest.raises(AssessError) as caught:
            open_table(con, db, source("x.csv", table="deals", schema="sale"))
        message = str(caught.value)
        assert message.startswith("r.yaml:7:5: error [no-schema] source `customers`: no schema `sale` in "), db.kind
        assert "did you mean `sales`?" in message, db.kind
        assert open_table(con, db, source("x.csv", table="deals", schema="sales")).count().execute() == 0
        assert_no_secret(urlsplit(postgres.url).password, message)


def test_table_and_schema_keys_validate(tmp_path):
    from engine.validate import load_ruleset

    text = RULESET.read_text(encoding="utf-8")
    good = text.replace("  customers:\n    path: sample-data/customers.csv\n",
                        "  customers:\n    path: sample-data/customers.csv\n    table: clients\n    schema: crm\n", 1)
    assert good != text, "the ruleset's customers source moved: update this test"
    (tmp_path / "good.yaml").write_text(good, encoding="utf-8")
    (tmp_path / "sample-data").symlink_to(ROOT / "rulesets" / "sample-data")
    allow = (ROOT / "rulesets",)  # where the symlinked sample data lies
    customers = load_ruleset(tmp_path / "good.yaml", allow).sources["customers"]
    assert (customers.table, customers.schema) == ("clients", "crm")
    (tmp_path / "bad.yaml").write_text(good.replace("table: clients", "table: ''"), encoding="utf-8")
    with pytest.raises(AssessError) as caught:
        load_ruleset(tmp_path / "bad.yaml", allow)
    assert "bad.yaml:23:5: error [schema] sources.customers" in str(caught.value)  # at the source


def test_a_missing_driver_names_the_extra():
    # the driver is made unimportable in a child process; the rest is the real code
    code = ("import sys; sys.modules['psycopg'] = None\n"
            "from engine.connect import Database, connect\n"
            "from engine.errors import AssessError\n"
            "try:\n    connect(Database('postgres', 'postgresql://a:s3cret@h/db'))\n"
            "except AssessError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "the postgres engine is not installed (psycopg is missing)" in out
    assert "pip install 'assess[postgres]'" in out


def sample(folder: Path) -> dict[str, pl.DataFrame]:
    assert main(["sample-data", "--out", str(folder), "--customers", "150", "--seed", "3", "--defects", "0.05"]) == 0
    return read_folder(folder)


def read_back(db: Database) -> dict[str, pl.DataFrame]:
    con = connect(db)
    try:
        return {name: con.table(name).to_polars() for name in con.list_tables()}
    finally:
        con.disconnect()


def assert_same_tables(expected: dict[str, pl.DataFrame], got: dict[str, pl.DataFrame]) -> None:
    assert sorted(got) == sorted(expected)
    for name, frame in expected.items():
        # integers may come back narrower (INTEGER): the values are compared in the CSV's types
        assert_frame_equal(got[name].cast(dict(frame.schema)), frame, check_exact=True), name


def test_sample_data_into_a_duckdb_file(tmp_path, monkeypatch, capsys):
    expected = sample(tmp_path / "csv")
    monkeypatch.chdir(tmp_path)
    assert main(["sample-data", "--out", "crm.duckdb", "--customers", "150", "--seed", "3", "--defects", "0.05"]) == 0
    assert "wrote 11 tables to crm.duckdb" in capsys.readouterr().err
    got = read_back(Database("duckdb", "duckdb:///crm.duckdb", tmp_path / "crm.duckdb"))
    assert_same_tables(expected, got)
    assert got["customers"].schema["created_at"] == pl.Date
    assert got["interactions"].schema["opened_at"] == pl.Datetime("us")


def test_sample_data_into_postgresql_replaces_the_tables(tmp_path, postgres: Database, capsys):
    expected = sample(tmp_path / "csv")
    connect(postgres).raw_sql("create table customers (old int)")  # replaced, not appended to
    assert main(["sample-data", "--out", postgres.url, "--customers", "150", "--seed", "3", "--defects", "0.05"]) == 0
    err = capsys.readouterr().err
    assert "wrote 11 tables to postgresql://assess:***@127.0.0.1" in err
    assert_no_secret(urlsplit(postgres.url).password, err)
    assert_same_tables(expected, read_back(postgres))


def test_read_folder_gives_the_declared_types():
    frames = read_folder(ROOT / "rulesets" / "sample-data", RULESET)
    # customers.phone is declared string: read as text even where it looks like a number
    assert frames["customers"].schema["phone"] == pl.String
    assert frames["customers"].schema["created_at"] == pl.Date
    assert len(frames) == len(list((ROOT / "rulesets" / "sample-data").glob("*.csv")))


def test_each_engine_holds_the_folder(engine):
    """The fixture every engine test uses: the tables, their row counts, a sum, and the
    declared types, each compared with Polars reading the same files."""
    folder = ROOT / "rulesets" / "sample-data"
    expected = read_folder(folder, RULESET)
    con = engine.load(folder, RULESET)
    assert set(expected) <= set(con.list_tables())
    for name, frame in expected.items():
        assert con.table(name).count().execute() == frame.height, name
    orders = con.table("orders")
    assert orders.amount.sum().execute() == pytest.approx(expected["orders"]["amount"].sum(), rel=1e-12)
    assert str(con.table("customers").schema()["created_at"]) == "date"
    assert str(con.table("interactions").schema()["opened_at"]).startswith("timestamp")


def without_engine(result: dict) -> dict:
    """The result less what names the engine and where it read: the engine, its query
    count and the sources' paths (a file, or a table)."""
    return {k: v for k, v in result.items() if k not in ("engine", "queries", "sources")} | \
        {"sources": [{k: v for k, v in s.items() if k != "path"} for s in result["sources"]]}


def test_a_ruleset_on_each_database_gives_the_numbers_of_its_files(tmp_path, duckdb_file, postgres, capsys):
    import json

    from conftest import approx_equal

    options = ["--customers", "300", "--seed", "5"]
    for out in (str(tmp_path / "csv"), duckdb_file.url, postgres.url):
        assert main(["sample-data", "--out", out, *options]) == 0
    capsys.readouterr()

    def result(data: str) -> dict:
        assert main(["run", str(RULESET), "--data", data, "--format", "json"]) == 0
        return json.loads(capsys.readouterr().out)

    files = result(str(tmp_path / "csv"))
    assert files["engine"] == "polars" and files["kpis"][0]["value"] is not None
    for db in (duckdb_file, postgres):
        got = result(db.url)
        assert got["engine"] != "polars"
        assert approx_equal(without_engine(got), without_engine(files)), db.kind


@pytest.mark.spark
def test_spark_submit_keeps_its_settings_and_gives_the_numbers_of_polars(tmp_path, capsys):
    """The README's file for `spark-submit`, run by spark-submit: the session is the one
    spark-submit made, with its own master and shuffle partitions (assess's 4 are for its
    own local session), times in UTC, and the run gives the numbers of the Polars engine."""
    import json
    import os
    import re

    import pyspark
    from conftest import approx_equal

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    wrapper = re.search(r"save it as `assess_submit.py`:\n\n```python\n(.*?)```", readme, flags=re.S).group(1)
    script = tmp_path / "assess_submit.py"
    script.write_text("from engine.connect import spark\nconf = spark().conf\n"
                      "print(conf.get('spark.sql.shuffle.partitions'), conf.get('spark.sql.session.timeZone'), "
                      "spark().sparkContext.master, flush=True)\n" + wrapper, encoding="utf-8")
    out = tmp_path / "spark.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYSPARK_GATEWAY", "SPARK_REMOTE"))}
    got = subprocess.run([str(Path(pyspark.__file__).parent / "bin" / "spark-submit"), "--master", "local[1]",
                          "--conf", "spark.sql.shuffle.partitions=7", "--conf", "spark.ui.enabled=false",
                          str(script), "run", str(RULESET), "--engine", "spark", "--format", "json",
                          "--out", str(out)],
                         capture_output=True, text=True, env=env | {"PYSPARK_PYTHON": sys.executable}, timeout=900)
    assert got.returncode == 0, got.stderr[-3000:]
    assert got.stdout.split()[:3] == ["7", "UTC", "local[1]"]
    on_spark = json.loads(out.read_text(encoding="utf-8"))
    assert main(["run", str(RULESET), "--format", "json"]) == 0
    on_polars = json.loads(capsys.readouterr().out)
    assert on_spark["engine"] == "spark" and on_polars["engine"] == "polars"
    assert approx_equal(without_engine(on_spark), without_engine(on_polars))


def test_no_password_in_any_output_of_a_run_on_postgresql(tmp_path, postgres_server, postgres, capsys):
    password = postgres_server.password
    assert password in postgres.url
    assert main(["sample-data", "--out", postgres.url, "--customers", "200"]) == 0
    for fmt in ("table", "md", "html", "json", "junit", "xlsx"):
        assert main(["run", str(RULESET), "--data", postgres.url, "--format", fmt, "--out", str(tmp_path / "out" / fmt),
                     "--evidence", str(tmp_path / "evidence"), "--history", str(tmp_path / "history")]) == 0, fmt
    assert main(["history", str(tmp_path / "history")]) == 0
    bad = postgres.url.replace("/postgres?", "/nodb?")  # a database that is not there
    assert main(["run", str(RULESET), "--data", bad]) == 2
    printed = capsys.readouterr()
    assert "cannot connect to postgresql://assess:***@127.0.0.1" in printed.err and '"nodb"' in printed.err
    assert len(list((tmp_path / "history").rglob("*.parquet"))) == 6
    assert_no_secret(password, printed.out, printed.err, tmp_path / "out", tmp_path / "evidence", tmp_path / "history")


def test_assert_no_secret_finds_it_in_text_zip_and_parquet(tmp_path):
    import zipfile

    with pytest.raises(AssertionError):
        assert_no_secret("s3cret", "a postgresql://u:s3cret@h/db")
    with zipfile.ZipFile(tmp_path / "r.xlsx", "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/sharedStrings.xml", "<t>postgresql://u:s3cret@h/db</t>" * 50)
    assert b"s3cret" not in (tmp_path / "r.xlsx").read_bytes()  # compressed: a byte search misses it
    with pytest.raises(AssertionError, match="r.xlsx!xl/sharedStrings.xml"):
        assert_no_secret("s3cret", tmp_path)
    (tmp_path / "r.xlsx").unlink()
    pl.DataFrame({"data": ["postgresql://u:s3cret@h/db"] * 1000}).write_parquet(tmp_path / "h.parquet", compression="zstd")
    with pytest.raises(AssertionError, match="h.parquet"):
        assert_no_secret("s3cret", tmp_path)
    assert_no_secret("s3cret", "postgresql://u:***@h/db", tmp_path / "nothing-here")


def test_validate_explain_and_diff_take_a_database(tmp_path, duckdb_file, postgres, capsys):
    """`validate`, `explain` and `diff` read `--data DATABASE` as `run` does: validate finds
    a missing table and a missing declared column at their lines; explain and diff give
    on each database what they give on the same tables written as files."""
    options = ["--customers", "150", "--seed", "4"]
    for out in (str(tmp_path / "csv"), duckdb_file.url, postgres.url):
        assert main(["sample-data", "--out", out, *options]) == 0
    text = RULESET.read_text(encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("path: sample-data/leads.csv", "path: sample-data/lead.csv")
                   .replace("columns: {customer_id: string, name: string, email: string",
                            "columns: {customer_id: string, name: string, nmae: string, email: string"),
                   encoding="utf-8")
    lines = bad.read_text(encoding="utf-8").splitlines()
    leads = next(i for i, line in enumerate(lines, 1) if "sample-data/lead.csv" in line)
    customers = next(i for i, line in enumerate(lines, 1) if line.strip() == "customers:")
    changed = tmp_path / "changed.yaml"  # a stricter target moves the retention KPI's score
    assert "    target: 0.85\n" in text
    changed.write_text(text.replace("    target: 0.85\n", "    target: 0.99\n", 1), encoding="utf-8")
    capsys.readouterr()

    def said(*args: str) -> tuple[int, str]:
        code = main(list(args))
        printed = capsys.readouterr()
        return code, printed.out + printed.err

    explained = said("explain", str(RULESET), "retention_rate", "--data", str(tmp_path / "csv"))
    diffed = said("diff", str(RULESET), str(changed), "--data", str(tmp_path / "csv"))
    assert explained[0] == 0 and diffed[0] == 0 and "retention_rate" in diffed[1]
    for db in (duckdb_file, postgres):
        assert said("validate", str(RULESET), "--data", db.url) == (0, "1 of 1 ruleset(s) valid\n"), db.kind
        code, out = said("validate", str(bad), "--data", db.url)
        assert code == 1, db.kind
        assert f"{bad}:{leads}:11: error [no-table] source `leads`: no table `lead` in {db.shown}" in out
        assert "did you mean `leads`?" in out
        # at the source's `path:`, the line under `customers:`
        assert f"{bad}:{customers + 1}:11: error [missing-column] source `customers` has no column `nmae`" in out
        assert "did you mean `name`?" in out
        # the same lineage and numbers; the source line names the table instead of the file
        on_files = explained[1].replace(f"{tmp_path / 'csv' / 'customers.csv'},", "customers,")
        assert said("explain", str(RULESET), "retention_rate", "--data", db.url) == (0, on_files), db.kind
        assert said("diff", str(RULESET), str(changed), "--data", db.url) == diffed, db.kind
        assert_no_secret(urlsplit(postgres.url).password, out)
