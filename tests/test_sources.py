"""Sources in every format, source filters, on_null, and the data contract at run time."""
import textwrap
from pathlib import Path

import polars as pl
import pytest

from engine.cli import main
from engine.errors import AssessError
from engine.run import assess
from conftest import RULESET

RULESET_TEXT = textwrap.dedent("""\
    ruleset: orders_check
    params: {min_amount: 100}
    sources:
      orders:
        path: data/orders.csv
        where: "amount >= min_amount"
        columns: {order_id: string, region: string, amount: float}
    measures:
      big: {source: orders, count: true, where: "amount >= 1000"}
      all: {source: orders, count: true}
      west: {source: orders, sum: amount, where: "region == 'west'"}
      none: {source: orders, count: true, where: "region == 'north'"}
    kpis:
      big_share: {formula: big / all, target: 0.5, floor: 0, category: c}
      west_revenue: {formula: west, target: 2000, unit: currency, category: c,
                     scoring: {method: bands, bands: [[2000, 100], [1000, 60]]}}
      zero_default: {formula: big / none, on_null: zero, target: 1, floor: 0, weight: 0, category: c}
      value_default: {formula: big / none, on_null: 7, target: 1, floor: 0, weight: 0, category: c}
    categories: {c: {}}
""")
ORDERS = pl.DataFrame({"order_id": ["a", "b", "c", "d", "e"],
                       "region": ["west", "west", "east", "east", "west"],
                       "amount": [50.0, 1500.0, 1000.0, 200.0, 300.0]})


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    (tmp_path / "r.yaml").write_text(RULESET_TEXT)
    ORDERS.write_csv(tmp_path / "data" / "orders.csv")
    return tmp_path


def check_values(result) -> None:
    # the source filter drops order a (50 < 100): 4 orders remain, b and c are >= 1000
    assert result.kpi("big_share").value == pytest.approx(2 / 4)
    assert result.kpi("big_share").score == pytest.approx(100.0)  # at target 0.5
    # west after the filter: b 1500 + e 300 = 1800 -> band [1000, 60]
    assert result.kpi("west_revenue").value == pytest.approx(1800)
    assert result.kpi("west_revenue").score == pytest.approx(60)
    assert result.kpi("zero_default").value == 0.0  # 2 / 0 -> null -> on_null zero
    assert result.kpi("value_default").value == 7.0
    assert result.sources[0].rows == 4


def test_csv_with_source_filter_and_on_null(folder):
    check_values(assess(folder / "r.yaml"))


@pytest.mark.parametrize("fmt", ["parquet", "xlsx"])
def test_data_dir_in_other_formats(folder, tmp_path, fmt):
    other = tmp_path / f"as_{fmt}"
    other.mkdir()
    if fmt == "parquet":
        ORDERS.write_parquet(other / "orders.parquet")
    else:
        ORDERS.write_excel(other / "orders.xlsx")
    check_values(assess(folder / "r.yaml", other))


def test_contract_type_mismatch_is_a_clear_error(folder):
    ORDERS.with_columns(pl.lit("lots").alias("amount")).write_csv(folder / "data" / "orders.csv")
    with pytest.raises(AssessError) as err:
        assess(folder / "r.yaml")
    assert "source `orders`" in str(err.value) and "lots" in str(err.value)


def test_source_path_outside_the_ruleset_folder_is_refused(folder, tmp_path, capsys):
    outside = tmp_path.parent / f"{tmp_path.name}_outside.csv"
    ORDERS.write_csv(outside)
    (folder / "r.yaml").write_text(RULESET_TEXT.replace("data/orders.csv", f"../{outside.name}"))
    assert main(["run", str(folder / "r.yaml")]) == 2
    assert "[path-outside]" in capsys.readouterr().err


def test_hostile_formula_refused_at_validation(folder, capsys):
    text = RULESET_TEXT.replace("formula: big / all", "formula: big.__class__")
    (folder / "r.yaml").write_text(text)
    assert main(["validate", str(folder / "r.yaml")]) == 1
    out = capsys.readouterr().out
    assert "r.yaml:14:" in out and "expression-forbidden" in out


def test_undeclared_column_in_data_without_contract(folder, capsys):
    text = RULESET_TEXT.replace("    columns: {order_id: string, region: string, amount: float}\n", "")
    assert "columns:" not in text
    (folder / "r.yaml").write_text(text.replace("region == 'west'", "regoin == 'west'"))
    assert main(["run", str(folder / "r.yaml"), "--format", "json"]) == 2
    err = capsys.readouterr().err
    assert "source `orders` has no column `regoin`" in err and "did you mean `region`?" in err


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-8-sig"])
def test_chinese_excel_exports_are_read(hand_data, encoding):
    from engine.execute import scan
    from engine.validate import load_ruleset

    path = hand_data / "customers.csv"
    path.write_bytes(path.read_text(encoding="utf-8").replace("Ann", "张三").encode(encoding))
    source = load_ruleset(RULESET).sources["customers"]
    assert scan(source, path).collect()["name"][0] == "张三"
    assert assess(RULESET, hand_data).kpi("retention_rate").value == pytest.approx(3 / 4)


def test_undecodable_csv_is_a_clear_error(hand_data):
    path = hand_data / "customers.csv"
    path.write_bytes(path.read_bytes() + b"C9,\xff\xfe\xfd\xff,,,,,,,,2024-01-01,\n")
    with pytest.raises(AssessError) as err:
        assess(RULESET, hand_data)
    assert "customers" in str(err.value) and "encoding" in str(err.value)
