from pathlib import Path

import pytest

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
