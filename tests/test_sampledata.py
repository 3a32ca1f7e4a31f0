"""The synthetic CRM export: shape, determinism, integrity and plausible KPIs.

Every check reads the written files with plain polars and recomputes what it needs by
hand, so nothing here trusts the generator's own bookkeeping.
"""
from __future__ import annotations

import datetime as dt
import pathlib

import polars as pl
import pytest

from engine.sampledata import generate

COLUMNS = {
    "customers": ["customer_id", "name", "email", "phone", "region", "segment", "channel",
                  "owner", "crm_vendor_id", "created_at", "churned_at"],
    "leads": ["lead_id", "created_at", "channel", "owner", "converted_at", "customer_id"],
    "orders": ["order_id", "customer_id", "ordered_at", "amount", "product_line"],
    "interactions": ["interaction_id", "customer_id", "channel", "kind", "owner", "opened_at",
                     "first_response_at", "resolved_at", "satisfaction"],
    "surveys": ["survey_id", "customer_id", "answered_at", "nps", "csat"],
    "costs": ["month", "marketing_cost", "sales_cost"],
    "vendors": ["vendor_id", "name", "category"],
    "vendor_tickets": ["ticket_id", "vendor_id", "severity", "opened_at", "first_response_at",
                       "resolved_at", "sla_hours"],
    "vendor_uptime": ["vendor_id", "month", "uptime_pct", "incidents"],
    "vendor_reviews": ["review_id", "vendor_id", "reviewed_at", "satisfaction", "training_hours"],
    "process_steps": ["case_id", "process", "step", "actor", "started_at", "ended_at"],
}
PRIMARY_KEYS = {
    "customers": ["customer_id"], "leads": ["lead_id"], "orders": ["order_id"],
    "interactions": ["interaction_id"], "surveys": ["survey_id"], "costs": ["month"],
    "vendors": ["vendor_id"], "vendor_tickets": ["ticket_id"],
    "vendor_uptime": ["vendor_id", "month"], "vendor_reviews": ["review_id"],
    "process_steps": ["case_id", "started_at"],
}
DATE_COLUMNS = {
    "customers": ["created_at", "churned_at"], "leads": ["created_at", "converted_at"],
    "orders": ["ordered_at"], "surveys": ["answered_at"], "vendor_reviews": ["reviewed_at"],
}
DATETIME_COLUMNS = {
    "interactions": ["opened_at", "first_response_at", "resolved_at"],
    "vendor_tickets": ["opened_at", "first_response_at", "resolved_at"],
    "process_steps": ["started_at", "ended_at"],
}
EMAIL = r"^[a-z0-9._%+-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}$"
PHONE = r"^(\+86)?1[3-9][0-9]{9}$"
START, END = dt.date(2025, 1, 1), dt.date(2025, 12, 31)


def read(folder: pathlib.Path, table: str) -> pl.DataFrame:
    """A CSV table with its temporal columns parsed by hand from the documented formats."""
    frame = pl.read_csv(folder / f"{table}.csv", infer_schema=False)
    casts = [pl.col(c).str.to_date("%Y-%m-%d") for c in DATE_COLUMNS.get(table, [])]
    casts += [pl.col(c).str.to_datetime("%Y-%m-%dT%H:%M:%S")
              for c in DATETIME_COLUMNS.get(table, [])]
    return frame.with_columns(casts) if casts else frame


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    folder = tmp_path_factory.mktemp("clean")
    generate(folder, customers=2000, seed=7, defects=0.0)
    return folder


@pytest.fixture(scope="module")
def dirty(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    folder = tmp_path_factory.mktemp("dirty")
    generate(folder, customers=2000, seed=7, defects=0.03)
    return folder


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_same_seed_gives_identical_bytes(tmp_path: pathlib.Path, fmt: str) -> None:
    first = generate(tmp_path / "a", customers=500, seed=11, fmt=fmt)
    second = generate(tmp_path / "b", customers=500, seed=11, fmt=fmt)
    assert first == second
    for table in COLUMNS:
        a = (tmp_path / "a" / f"{table}.{fmt}").read_bytes()
        b = (tmp_path / "b" / f"{table}.{fmt}").read_bytes()
        assert a == b, table


def test_other_seed_gives_other_data(tmp_path: pathlib.Path) -> None:
    generate(tmp_path / "a", customers=300, seed=1)
    generate(tmp_path / "b", customers=300, seed=2)
    a = (tmp_path / "a" / "interactions.csv").read_bytes()
    assert a != (tmp_path / "b" / "interactions.csv").read_bytes()


def test_returned_counts_match_files(tmp_path: pathlib.Path) -> None:
    counts = generate(tmp_path, customers=700, seed=5)
    assert list(counts) == list(COLUMNS)
    for table, rows in counts.items():
        assert read(tmp_path, table).height == rows, table


def test_row_counts_scale_with_customers(tmp_path: pathlib.Path) -> None:
    small = generate(tmp_path / "s", customers=1000)
    large = generate(tmp_path / "l", customers=4000)
    assert small["customers"] == 1000 and large["customers"] == 4000
    for table in ("leads", "orders", "interactions", "surveys", "vendor_tickets",
                  "vendor_reviews", "process_steps"):
        assert 3.0 < large[table] / small[table] < 5.0, table
    for table in ("costs", "vendors", "vendor_uptime"):
        assert large[table] == small[table], table


def test_expected_volumes(dirty: pathlib.Path) -> None:
    n = 2000
    assert read(dirty, "customers").height == n
    assert read(dirty, "leads").height == 3 * n
    assert 4.0 * n < read(dirty, "orders").height < 6.0 * n
    assert 7.0 * n < read(dirty, "interactions").height < 9.0 * n
    assert 1.2 * n < read(dirty, "surveys").height < 1.8 * n
    assert read(dirty, "costs").height == 24
    assert read(dirty, "vendors").height == 5
    assert 100 <= read(dirty, "vendor_tickets").height <= 900
    assert read(dirty, "vendor_uptime").height == 5 * 24
    steps = read(dirty, "process_steps").group_by("case_id").len()["len"]
    assert steps.min() >= 3 and steps.max() <= 6


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_every_table_has_exactly_the_columns(tmp_path: pathlib.Path, fmt: str) -> None:
    generate(tmp_path, customers=200, fmt=fmt)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{t}.{fmt}" for t in COLUMNS)
    for table, columns in COLUMNS.items():
        path = tmp_path / f"{table}.{fmt}"
        frame = pl.read_csv(path) if fmt == "csv" else pl.read_parquet(path)
        assert frame.columns == columns, table


def test_csv_text_format(dirty: pathlib.Path) -> None:
    text = (dirty / "interactions.csv").read_text(encoding="utf-8")
    assert text.splitlines()[0] == ",".join(COLUMNS["interactions"])
    raw = pl.read_csv(dirty / "interactions.csv", infer_schema=False)
    stamp = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$"
    assert raw["opened_at"].str.contains(stamp).all()
    assert raw["resolved_at"].drop_nulls().str.contains(stamp).all()
    assert raw["resolved_at"].null_count() > 0  # empty cells read back as nulls
    customers = pl.read_csv(dirty / "customers.csv", infer_schema=False)
    assert customers["created_at"].str.contains(r"^\d{4}-\d{2}-\d{2}$").all()
    assert customers["churned_at"].null_count() > 0
    assert customers["name"].str.contains(r"[^\x00-\x7f]").any()  # real UTF-8 text
    assert pl.read_csv(dirty / "costs.csv", infer_schema=False)["month"].str.contains(
        r"^\d{4}-\d{2}$").all()


def test_parquet_has_temporal_dtypes(tmp_path: pathlib.Path) -> None:
    generate(tmp_path, customers=300, fmt="parquet")
    for table, columns in DATE_COLUMNS.items():
        schema = pl.read_parquet_schema(tmp_path / f"{table}.parquet")
        for column in columns:
            assert schema[column] == pl.Date, (table, column)
    for table, columns in DATETIME_COLUMNS.items():
        schema = pl.read_parquet_schema(tmp_path / f"{table}.parquet")
        for column in columns:
            assert isinstance(schema[column], pl.Datetime), (table, column)
            assert schema[column].time_zone is None, (table, column)


def test_parquet_and_csv_hold_the_same_data(tmp_path: pathlib.Path) -> None:
    generate(tmp_path / "c", customers=300, fmt="csv")
    generate(tmp_path / "p", customers=300, fmt="parquet")
    for table in ("customers", "interactions", "process_steps"):
        csv = read(tmp_path / "c", table)
        parquet = pl.read_parquet(tmp_path / "p" / f"{table}.parquet")
        parquet = parquet.with_columns(
            pl.col(c).dt.cast_time_unit("us") for c in DATETIME_COLUMNS.get(table, []))
        assert csv.cast(parquet.schema).equals(parquet), table


@pytest.mark.parametrize("which", ["clean", "dirty"])
def test_ids_are_unique(which: str, request: pytest.FixtureRequest) -> None:
    folder = request.getfixturevalue(which)
    for table, key in PRIMARY_KEYS.items():
        frame = read(folder, table)
        assert frame.select(key).is_duplicated().sum() == 0, table
        assert frame.select(key).null_count().sum_horizontal().item() == 0, table
    prefixes = {"customers": "C", "leads": "L", "orders": "O", "interactions": "I",
                "surveys": "S", "vendor_tickets": "T", "vendor_reviews": "R",
                "process_steps": "P", "vendors": "V"}
    for table, prefix in prefixes.items():
        column = PRIMARY_KEYS[table][0]
        assert read(folder, table)[column].str.contains(f"^{prefix}[0-9]+$").all(), table


def test_referential_integrity_without_defects(clean: pathlib.Path) -> None:
    customers = set(read(clean, "customers")["customer_id"])
    for table in ("interactions", "orders", "surveys"):
        assert set(read(clean, table)["customer_id"]) <= customers, table
    leads = read(clean, "leads")
    converted = leads.filter(pl.col("converted_at").is_not_null())
    assert converted["customer_id"].null_count() == 0
    assert set(converted["customer_id"]) <= customers
    assert leads.filter(pl.col("converted_at").is_null())["customer_id"].null_count() == (
        leads.height - converted.height)
    vendors = set(read(clean, "vendors")["vendor_id"])
    assert set(read(clean, "customers")["crm_vendor_id"]) <= vendors
    for table in ("vendor_tickets", "vendor_uptime", "vendor_reviews"):
        assert set(read(clean, table)["vendor_id"]) <= vendors, table


def test_no_defects_when_disabled(clean: pathlib.Path) -> None:
    customers = read(clean, "customers")
    assert customers["email"].null_count() == 0
    assert customers["email"].str.contains(EMAIL).all()
    assert customers["phone"].null_count() == 0
    assert customers["phone"].str.contains(PHONE).all()
    assert customers["phone"].str.starts_with("+86").any()
    normalised = customers.with_columns(pl.col("phone").str.strip_prefix("+86"))
    for key in (["email"], ["phone"], ["name", "email", "phone"]):
        assert normalised.select(key).is_duplicated().sum() == 0, key
    assert customers["created_at"].min() >= dt.date(2023, 1, 1)
    steps = read(clean, "process_steps")
    assert steps.select(["case_id", "step"]).is_duplicated().sum() == 0
    resolved = read(clean, "interactions").filter(pl.col("resolved_at").is_not_null())
    assert resolved["satisfaction"].null_count() == 0


def test_defects_are_present_when_enabled(dirty: pathlib.Path) -> None:
    customers = read(dirty, "customers")
    ids = set(customers["customer_id"])
    interactions = read(dirty, "interactions")
    orphans = interactions.filter(~pl.col("customer_id").is_in(list(ids)))
    assert orphans.height > 0
    emails = customers["email"]
    assert emails.null_count() > 0
    assert (~emails.drop_nulls().str.contains(EMAIL)).sum() > 0
    phones = customers["phone"]
    assert phones.null_count() > 0
    assert (~phones.drop_nulls().str.contains(PHONE)).sum() > 0
    assert customers.select(["name", "email", "phone"]).drop_nulls().is_duplicated().sum() > 0
    active = set(read(dirty, "orders")["customer_id"]) | set(interactions["customer_id"])
    stale = customers.filter(
        (pl.col("created_at") < dt.date(2021, 1, 1)) & ~pl.col("customer_id").is_in(list(active)))
    assert stale.height > 0
    steps = read(dirty, "process_steps")
    assert steps.select(["case_id", "step"]).is_duplicated().sum() > 0
    resolved = interactions.filter(pl.col("resolved_at").is_not_null())
    assert resolved["satisfaction"].null_count() > 0


@pytest.mark.parametrize("which", ["clean", "dirty"])
def test_timestamps_are_ordered(which: str, request: pytest.FixtureRequest) -> None:
    folder = request.getfixturevalue(which)
    customers = read(folder, "customers")
    churned = customers.filter(pl.col("churned_at").is_not_null())
    assert churned.height > 0
    assert (churned["churned_at"] > churned["created_at"]).all()
    leads = read(folder, "leads").filter(pl.col("converted_at").is_not_null())
    assert (leads["converted_at"] >= leads["created_at"]).all()
    # a converted lead becomes its customer on the day of conversion
    joined = leads.join(customers, on="customer_id", suffix="_customer")
    assert joined.height == leads.height
    assert (joined["created_at_customer"] == joined["converted_at"]).all()
    for table in ("interactions", "vendor_tickets"):
        frame = read(folder, table)
        first = frame.filter(pl.col("first_response_at").is_not_null())
        assert (first["first_response_at"] >= first["opened_at"]).all(), table
        done = frame.filter(pl.col("resolved_at").is_not_null())
        assert (done["resolved_at"] >= done["first_response_at"]).all(), table
        latest = frame.select(pl.col(pl.Datetime).max()).max_horizontal().item()
        assert latest < dt.datetime(2026, 1, 1), table  # nothing after the export moment
    steps = read(folder, "process_steps")
    assert (steps["ended_at"] >= steps["started_at"]).all()
    ordered = steps.with_columns(prev_end=pl.col("ended_at").shift().over("case_id"))
    assert ordered.filter(pl.col("started_at") < pl.col("prev_end")).height == 0
    # activity happens only while the customer is active
    orders = read(folder, "orders").join(customers, on="customer_id")
    assert (orders["ordered_at"] >= orders["created_at"]).all()
    assert orders.filter(pl.col("ordered_at") >= pl.col("churned_at")).height == 0


def test_value_domains(dirty: pathlib.Path) -> None:
    interactions = read(dirty, "interactions")
    assert set(interactions["channel"]) == {"phone", "email", "chat", "social", "visit"}
    assert set(interactions["kind"]) == {"inquiry", "complaint", "service", "sales"}
    assert interactions["satisfaction"].cast(pl.Int64).drop_nulls().is_between(1, 5).all()
    surveys = read(dirty, "surveys").with_columns(pl.col("nps", "csat").cast(pl.Int64))
    assert surveys["nps"].null_count() == 0 and surveys["nps"].is_between(0, 10).all()
    assert surveys["csat"].null_count() > 0 and surveys["csat"].drop_nulls().is_between(1, 5).all()
    tickets = read(dirty, "vendor_tickets").with_columns(pl.col("severity").cast(pl.Int64))
    assert tickets["severity"].is_between(1, 4).all()
    uptime = read(dirty, "vendor_uptime").with_columns(pl.col("uptime_pct").cast(pl.Float64))
    assert uptime["uptime_pct"].is_between(99.0, 99.99).all()
    assert uptime["month"].min() == "2024-01" and uptime["month"].max() == "2025-12"
    steps = read(dirty, "process_steps")
    assert set(steps["process"]) == {"sales", "service", "approval"}
    owners = set(read(dirty, "customers")["owner"])
    assert 10 <= len(owners) <= 15 and set(steps["actor"]) <= owners


def kpis(folder: pathlib.Path) -> dict[str, float]:
    """Period-2025 KPIs computed from the definitions, not from the generator."""
    customers = read(folder, "customers")

    def active(day: dt.date) -> pl.Expr:
        return (pl.col("created_at") <= day) & (
            pl.col("churned_at").is_null() | (pl.col("churned_at") > day))

    at_start = customers.filter(active(START))
    retained = at_start.filter(active(END))
    leads = read(folder, "leads").filter(pl.col("created_at").is_between(START, END))
    interactions = read(folder, "interactions").filter(
        pl.col("opened_at").dt.year() == 2025)
    surveys = read(folder, "surveys").filter(
        pl.col("answered_at").is_between(START, END)).with_columns(
        pl.col("nps", "csat").cast(pl.Int64))
    csat = surveys["csat"].drop_nulls()
    nps = surveys["nps"]
    return {
        "start_population": float(at_start.height),
        "retention": retained.height / at_start.height,
        "conversion": leads["converted_at"].is_not_null().mean(),
        "complaint_share": (interactions["kind"] == "complaint").mean(),
        "csat_top2": (csat >= 4).mean(),
        "nps": 100.0 * ((nps >= 9).mean() - (nps <= 6).mean()),
    }


@pytest.mark.parametrize("which", ["clean", "dirty"])
def test_kpis_are_plausible(which: str, request: pytest.FixtureRequest) -> None:
    values = kpis(request.getfixturevalue(which))
    assert values["start_population"] > 1000  # most customers exist before 2025
    assert 0.7 < values["retention"] < 0.95
    assert 0.15 < values["conversion"] < 0.45
    assert 0.08 < values["complaint_share"] < 0.18
    assert 0.5 < values["csat_top2"] < 0.95
    assert 10.0 < values["nps"] < 50.0


def test_kpis_differ_by_owner_channel_and_vendor(dirty: pathlib.Path) -> None:
    leads = read(dirty, "leads")
    by_channel = leads.group_by("channel").agg(pl.col("converted_at").is_not_null().mean())
    rates = dict(by_channel.iter_rows())
    assert rates["referral"] > rates["web"] > rates["ads"]
    first = read(dirty, "interactions").filter(pl.col("first_response_at").is_not_null())
    hours = first.group_by("owner").agg(
        ((pl.col("first_response_at") - pl.col("opened_at")).dt.total_minutes().median()))
    assert hours["first_response_at"].max() > 1.5 * hours["first_response_at"].min()
    customers = read(dirty, "customers")
    churn = customers.group_by("crm_vendor_id").agg(pl.col("churned_at").is_not_null().mean())
    churn = dict(churn.iter_rows())
    assert churn["V05"] > churn["V01"]
    tickets = read(dirty, "vendor_tickets").with_columns(
        late=(pl.col("resolved_at") - pl.col("opened_at")).dt.total_hours()
        > pl.col("sla_hours").cast(pl.Int64))
    breach = dict(tickets.group_by("vendor_id").agg(pl.col("late").mean()).iter_rows())
    assert breach["V05"] > breach["V01"]


def test_seasonality(dirty: pathlib.Path) -> None:
    leads = read(dirty, "leads").with_columns(month=pl.col("created_at").dt.month())
    per_month = dict(leads.group_by("month").len().iter_rows())
    assert per_month[2] < per_month[11]
    q4 = sum(per_month[m] for m in (10, 11, 12))
    assert q4 > 0.3 * leads.height


def test_rejects_bad_arguments(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ValueError):
        generate(tmp_path, fmt="xlsx")
    with pytest.raises(ValueError):
        generate(tmp_path, customers=0)
    with pytest.raises(ValueError):
        generate(tmp_path, defects=1.5)
