"""The fuzzer (tests/fuzz_rulesets.py) in CI, for a bounded number of examples with a
fixed seed: mutated rulesets and action texts, and tables of hostile values through every
report format. Each example is a real run; a crash or an unsafe output fails the test."""
from fuzz_rulesets import examples


def test_mutated_rulesets_and_hostile_tables():
    tables = 12
    found, read = examples(rulesets=150, tables=tables, seed=13)
    assert not found, "\n\n".join(found[:3])
    # most tables give reports to check (the rest, located errors): 6 formats a table
    assert read >= tables * 6 // 2, read
