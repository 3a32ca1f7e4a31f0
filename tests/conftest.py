import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# the real engines (PostgreSQL, Spark, DuckDB) as fixtures
from engines import duckdb_file, engine, postgres, postgres_server, spark_session, spark_views  # noqa: F401

# no wall-clock limits: the suite must pass on a machine loaded several times over, so
# hypothesis neither times examples (deadline) nor refuses slow data generation
settings.register_profile("loaded", deadline=None, suppress_health_check=[HealthCheck.too_slow])
# CI runs the same examples every time (a random search that finds a new counter-example
# there would fail a change that did not cause it); a search anywhere else explores, and
# what it finds is pinned with @example
settings.register_profile("ci", parent=settings.get_profile("loaded"), derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "loaded")

ROOT = Path(__file__).resolve().parent.parent
RULESET = ROOT / "rulesets" / "crm_assessment.yaml"
HAND = Path(__file__).resolve().parent / "data" / "hand"


@pytest.fixture
def hand_data(tmp_path: Path) -> Path:
    """A copy of the hand-made tables, free to be changed by a test."""
    out = tmp_path / "data"
    out.mkdir()
    for f in HAND.iterdir():
        (out / f.name).write_bytes(f.read_bytes())
    return out


def approx_equal(a, b) -> bool:
    """Two JSON results equal, floats to 1e-9 relative (sums may add up in another order)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(approx_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(approx_equal, a, b))
    if isinstance(a, float) and isinstance(b, float):
        return a == pytest.approx(b, rel=1e-9)
    return a == b
