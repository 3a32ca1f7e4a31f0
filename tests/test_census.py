"""The CRM census (rulesets/data_census.yaml) on generated data, every count checked
against plain Python.

The data comes from engine.sampledata.generate (3000 customers, seed 11, 5 % defects).
Each census rule's `failed` is recomputed here from the CSV files with the csv module,
re and dicts/sets only (no Polars, nothing from the engine), following the rule's
definition in the ruleset and the rule docstrings in engine/checks.py. Where the
generator's code fixes a number exactly (stale customers, duplicates), that is
asserted too.
"""
from __future__ import annotations

import collections
import csv
import datetime as dt
import json
import math
import re
import shutil
import statistics
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from engine.cli import main
from engine.run import assess
from engine.sampledata import generate

ROOT = Path(__file__).resolve().parent.parent
CENSUS = ROOT / "rulesets" / "data_census.yaml"
CUSTOMERS, SEED, DEFECTS = 3000, 11, 0.05

PERIOD_START, PERIOD_END = dt.date(2025, 1, 1), dt.date(2025, 12, 31)
STALE_DAYS, ENTERPRISE_MIN = 365, 20000

# which census rule catches which defect the generator injects
DEFECT_RULES = {
    "missing emails": "email_present",
    "malformed emails": "email_valid",
    "missing phones": "phone_present",
    "malformed phones": "phone_valid",
    "duplicates by email": "email_unique",
    "duplicates by phone": "phone_unique",
    "stale customers": "not_stale",
    "orphan interactions": "interaction_customer_exists",
    "missing satisfaction on resolved interactions": "satisfaction_recorded",
    "rework cases": "no_rework",
}


# ---------------------------------------------------------------- plain-Python census

def read(folder: Path, table: str) -> list[dict[str, str]]:
    with (folder / f"{table}.csv").open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def when(text: str) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


def day(text: str) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


def blank(text: str) -> bool:
    return text.strip() == ""


def well_formed_email(text: str) -> bool:
    """One @, a local part without spaces, a domain of dot-separated labels (letters,
    digits, hyphens) ending in a top-level domain of two or more letters."""
    parts = text.split("@")
    if len(parts) != 2 or not parts[0] or any(ch.isspace() for ch in parts[0]):
        return False
    labels = parts[1].split(".")
    return (len(labels) >= 2 and all(re.fullmatch(r"[A-Za-z0-9-]+", label) for label in labels)
            and re.fullmatch(r"[A-Za-z]{2,}", labels[-1]) is not None)


def cn_mobile(text: str) -> bool:
    """11 digits starting 1[3-9], with or without a leading +86 (and a space or hyphen)."""
    if text.startswith("+86"):
        text = text[3:].removeprefix(" ").removeprefix("-")
    return len(text) == 11 and text.isdigit() and text[0] == "1" and text[1] in "3456789"


def phone_key(text: str) -> str | None:
    """normalize: phone - the digits, a leading 86 before 11 digits dropped; none left: null."""
    digits = "".join(ch for ch in text if ch.isdigit())
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    return digits or None


def email_key(text: str) -> str | None:
    """normalize: lower_trim; nothing left: null."""
    return text.strip().lower() or None


def duplicates(keys: list[str | None]) -> tuple[int, int]:
    """(failed, rows in duplicate groups) of a unique rule ignoring nulls: failed = values -
    distinct values; the evidence lists every row of a value seen more than once."""
    seen = collections.Counter(k for k in keys if k is not None)
    return sum(seen.values()) - len(seen), sum(n for n in seen.values() if n > 1)


def hours(start: dt.datetime, end: dt.datetime) -> float:
    return (end - start).total_seconds() / 3600


def quantile(values: list[float], q: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default)."""
    xs = sorted(values)
    h = (len(xs) - 1) * q
    lo, hi = math.floor(h), math.ceil(h)
    return xs[lo] + (h - lo) * (xs[hi] - xs[lo])


class Census:
    """Every census rule's rows, failed and failing keys, from the CSV files."""

    def __init__(self, folder: Path):
        self.customers = read(folder, "customers")
        self.orders = read(folder, "orders")
        self.interactions = read(folder, "interactions")
        self.steps = read(folder, "process_steps")
        self.rows: dict[str, int] = {}
        self.failing: dict[str, list[str]] = {}  # the key of every failing row
        self.evidence: dict[str, int] = {}  # rows of duplicate groups, for unique rules
        self._customer_rules()
        self._interaction_rules()
        self._process_rules()

    def failed(self, check: str) -> int:
        return len(self.failing[check])

    def rule(self, check: str, rows: list[dict[str, str]], fails, key: str) -> None:
        self.rows[check] = len(rows)
        self.failing[check] = [r[key] for r in rows if fails(r)]

    def _customer_rules(self) -> None:
        cs = self.customers
        for column in ("name", "email", "phone", "region", "segment", "owner"):  # not_empty
            self.rule(f"{column}_present", cs, lambda r, c=column: blank(r[c]), "customer_id")
        # reachable: a well-formed email or a valid mobile number
        self.rule("reachable", cs, lambda r: not (well_formed_email(r["email"]) or cn_mobile(r["phone"])),
                  "customer_id")
        # matches: nulls are left to not_null
        self.rule("email_valid", cs, lambda r: r["email"] != "" and not well_formed_email(r["email"]),
                  "customer_id")
        self.rule("phone_valid", cs, lambda r: r["phone"] != "" and not cn_mobile(r["phone"]),
                  "customer_id")
        # unique over the valid values only (scope: where valid(...)): rows in scope are
        # the valid ones, duplicates counted among them
        for check, key, valid in (("email_unique", email_key, well_formed_email),
                                  ("phone_unique", phone_key, cn_mobile)):
            column = check.split("_")[0]
            scope = [r for r in cs if valid(r[column])]
            failed, in_groups = duplicates([key(r[column]) for r in scope])
            self.rows[check] = len(scope)
            self.failing[check] = [None] * failed  # a count of rows, not particular rows
            self.evidence[check] = in_groups

        last_order: dict[str, dt.date] = {}
        total: dict[str, float] = collections.defaultdict(float)
        for o in self.orders:
            ordered = day(o["ordered_at"])
            last_order[o["customer_id"]] = max(ordered, last_order.get(o["customer_id"], ordered))
            if PERIOD_START <= ordered <= PERIOD_END:
                total[o["customer_id"]] += float(o["amount"])
        last_touch: dict[str, dt.date] = {}
        for i in self.interactions:
            opened = when(i["opened_at"]).date()
            last_touch[i["customer_id"]] = max(opened, last_touch.get(i["customer_id"], opened))
        # segment_consistent: active enterprise customers order enterprise_min_amount in the
        # period (no order: 0)
        scope = [r for r in cs if r["segment"] == "enterprise" and r["churned_at"] == ""
                 and day(r["created_at"]) < PERIOD_START]
        self.rule("segment_consistent", scope,
                  lambda r: not total.get(r["customer_id"], 0.0) >= ENTERPRISE_MIN, "customer_id")
        # not_stale: active customers created at least stale_days before period_end have an
        # order or an interaction since then; a customer with neither (null) fails
        cutoff = PERIOD_END - dt.timedelta(days=STALE_DAYS)
        scope = [r for r in cs if r["churned_at"] == "" and day(r["created_at"]) <= cutoff]
        self.rule("not_stale", scope,
                  lambda r: not (last_order.get(r["customer_id"], dt.date.min) >= cutoff
                                 or last_touch.get(r["customer_id"], dt.date.min) >= cutoff),
                  "customer_id")

    def _interaction_rules(self) -> None:
        its = self.interactions
        known = {r["customer_id"] for r in self.customers}
        self.rule("interaction_customer_exists", its,
                  lambda r: r["customer_id"] != "" and r["customer_id"] not in known, "interaction_id")
        # response_recorded: a resolved interaction had a first response
        self.rule("response_recorded", [r for r in its if r["resolved_at"] != ""],
                  lambda r: r["first_response_at"] == "", "interaction_id")
        # consistency: rows with a missing input are out of scope
        for check, later in (("response_after_open", "first_response_at"),
                             ("resolved_after_open", "resolved_at")):
            self.rule(check, [r for r in its if r[later] and r["opened_at"]],
                      lambda r, c=later: when(r[c]) < when(r["opened_at"]), "interaction_id")
        self.rule("satisfaction_recorded", [r for r in its if r["resolved_at"] != ""],
                  lambda r: r["satisfaction"] == "", "interaction_id")
        self.rule("satisfaction_in_range", its,
                  lambda r: r["satisfaction"] != "" and not 1 <= int(r["satisfaction"]) <= 5,
                  "interaction_id")

    def _process_rules(self) -> None:
        self.rule("steps_in_order", [r for r in self.steps if r["started_at"] and r["ended_at"]],
                  lambda r: when(r["ended_at"]) < when(r["started_at"]), "case_id")
        self.cases: dict[tuple[str, str], list[dict[str, str]]] = collections.defaultdict(list)
        for r in self.steps:
            self.cases[r["case_id"], r["process"]].append(r)
        rows = [{"case_id": case, "steps": len(s), "distinct": len({r["step"] for r in s})}
                for (case, _), s in self.cases.items()]
        self.rule("no_rework", rows, lambda r: r["steps"] != r["distinct"], "case_id")


def ruleset_checks() -> dict[str, dict]:
    with CENSUS.open(encoding="utf-8") as f:
        return {c["id"]: c for c in yaml.safe_load(f)["checks"]}


def expected_status(spec: dict, rows: int, failed: int) -> str:
    """A rule's status from its thresholds, as the ruleset states them."""
    def holds(text: str | None) -> bool:
        if text is None:
            return False
        metric, op, limit = re.fullmatch(r"\s*(ratio|failed|rows)?\s*(<=|<|>=|>|==|!=)\s*([0-9.]+)\s*",
                                         text).groups()
        value = {"failed": failed, "rows": rows}.get(metric, (rows - failed) / rows if rows else None)
        if value is None:
            return False
        limit = float(limit)
        return {"<": value < limit, "<=": value <= limit, ">": value > limit, ">=": value >= limit,
                "==": value == limit, "!=": value != limit}[op]
    if "warn" not in spec and "fail" not in spec:
        return "fail" if failed else "pass"
    return "fail" if holds(spec.get("fail")) else "warn" if holds(spec.get("warn")) else "pass"


@pytest.fixture(scope="module")
def defective(tmp_path_factory):
    folder = tmp_path_factory.mktemp("census_defects")
    counts = generate(folder, customers=CUSTOMERS, seed=SEED, defects=DEFECTS)
    return folder, counts, Census(folder), assess(CENSUS, folder)


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    folder = tmp_path_factory.mktemp("census_clean")
    generate(folder, customers=CUSTOMERS, seed=SEED, defects=0)
    return folder, Census(folder), assess(CENSUS, folder)


def by_id(result) -> dict:
    return {c.id: c for c in result.checks}


# ---------------------------------------------------------------- counts

def test_the_generated_tables(defective):
    folder, counts, census, result = defective
    assert counts["customers"] == CUSTOMERS == len(census.customers)
    assert counts["interactions"] == len(census.interactions)
    assert counts["process_steps"] == len(census.steps)
    assert {s.name: s.rows for s in result.sources}["customers"] == CUSTOMERS


@pytest.mark.parametrize("defect, check", sorted(DEFECT_RULES.items()))
def test_each_injected_defect_is_counted_exactly(defective, defect, check):
    _, _, census, result = defective
    c = by_id(result)[check]
    assert census.failed(check) > 0, f"{defect}: the generator injected none, the test would prove nothing"
    assert c.failed == census.failed(check), defect
    assert c.rows == census.rows[check], defect


def test_every_census_check_matches_plain_python(defective):
    _, _, census, result = defective
    checks = by_id(result)
    assert set(checks) == set(census.rows) == set(ruleset_checks())
    assert set(DEFECT_RULES.values()) <= set(checks) and len(checks) == 21
    for id, c in checks.items():
        assert (c.rows, c.failed) == (census.rows[id], census.failed(id)), id
        assert c.status == expected_status(ruleset_checks()[id], census.rows[id], census.failed(id)), id


def test_stale_customers_are_exactly_the_injected_ones(defective):
    _, _, census, result = defective
    # _customers_and_leads: n_stale = round(n * defects / 2), created 2015..2019; every
    # other customer is created from 2023 on
    injected = [r["customer_id"] for r in census.customers if r["created_at"] < "2023-01-01"]
    assert len(injected) == round(CUSTOMERS * DEFECTS / 2) == 75
    # never churned, no order, no interaction: each one is in scope and fails; and with
    # this seed no active customer goes untouched for a year by nature (as with defects=0)
    assert set(injected) == set(census.failing["not_stale"])
    assert by_id(result)["not_stale"].failed == 75


def test_duplicates_are_the_injected_copies(defective):
    _, _, census, result = defective
    checks = by_id(result)
    # n_dup = round(n * defects / 2) rows copy name, email and phone of another (never
    # stale, never copied) customer: 75 rows beyond the first of each identity
    identities = collections.Counter((r["name"], r["email"], r["phone"]) for r in census.customers)
    assert len(census.customers) - len(identities) == round(CUSTOMERS * DEFECTS / 2) == 75
    # emails are distinct by construction (a bijective number in the local part), so every
    # copy is a duplicate email, except the copies of an email that is missing or malformed
    # (the rule judges valid emails only)
    bad_email = sum(n - 1 for (_, email, _), n in identities.items() if n > 1 and not well_formed_email(email))
    assert checks["email_unique"].failed == 75 - bad_email
    # phones likewise: only valid mobile numbers are compared, so no two malformed ones
    # can collide
    bad_phone = sum(n - 1 for (_, _, phone), n in identities.items() if n > 1 and not cn_mobile(phone))
    assert checks["phone_unique"].failed == 75 - bad_phone


def test_orphans_point_past_the_customer_table(defective):
    _, _, census, result = defective
    # _interactions: an orphan's customer number is n + 1 or more
    past_the_end = sum(1 for r in census.interactions if int(r["customer_id"][1:]) > CUSTOMERS)
    assert by_id(result)["interaction_customer_exists"].failed == past_the_end


def test_a_reworked_case_repeats_one_middle_step(defective):
    _, _, census, _ = defective
    # _process_steps: length = base_len + rework; the redone step k is a middle one
    # (1 <= k <= base_len - 2) and its two rows follow each other
    reworked = set(census.failing["no_rework"])
    assert reworked
    for (case, _), steps in census.cases.items():
        if case not in reworked:
            continue
        names = [s["step"] for s in steps]
        repeated = [n for n, k in collections.Counter(names).items() if k > 1]
        assert len(repeated) == 1 and names.count(repeated[0]) == 2, case
        at = names.index(repeated[0])
        assert names[at + 1] == repeated[0] and 0 < at and at + 1 < len(names) - 1, case


# ---------------------------------------------------------------- no defects

# Without defects every rule finds nothing: the generator makes emails and phones distinct
# and valid, responses and resolutions follow the request, only defects leave satisfaction
# out or repeat a step, and segment_consistent judges only enterprise customers who had the
# whole period to order (created before it).
def test_without_defects_every_rule_passes(clean):
    _, census, result = clean
    for id, c in by_id(result).items():
        assert c.failed == census.failed(id) == 0, id
        assert c.status == "pass", id


# ---------------------------------------------------------------- run, evidence, junit

def test_run_exits_1_when_a_fail_rule_fails(defective, tmp_path, capsys):
    folder, _, census, _ = defective
    statuses = {id: expected_status(spec, census.rows[id], census.failed(id))
                for id, spec in ruleset_checks().items()}
    assert "fail" in statuses.values()
    assert main(["run", str(CENSUS), "--data", str(folder), "--out", str(tmp_path / "r.txt")]) == 1


def test_run_exits_0_when_only_warnings_remain(clean, tmp_path, capsys):
    folder, _, _ = clean
    data = tmp_path / "data"
    shutil.copytree(folder, data)
    rows = read(data, "customers")
    for r in rows[::75]:  # 40 of 3000 emails gone: ratio 0.9867 < 0.99 (warn), not < 0.95
        r["email"] = ""
    with (data / "customers.csv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    census = Census(data)
    assert census.failed("email_present") == 40
    result = assess(CENSUS, data)
    statuses = {c.id: c.status for c in result.checks}
    assert statuses["email_present"] == "warn" and "fail" not in statuses.values()
    assert main(["run", str(CENSUS), "--data", str(data), "--out", str(tmp_path / "r.txt")]) == 0


def test_evidence_has_every_failing_row(defective, tmp_path, capsys):
    folder, _, census, _ = defective
    evidence, report = tmp_path / "evidence", tmp_path / "r.json"
    assert main(["run", str(CENSUS), "--data", str(folder), "--evidence", str(evidence),
                 "--format", "json", "--out", str(report)]) == 1
    checks = {c["id"]: c for c in json.loads(report.read_text(encoding="utf-8"))["checks"]}
    flagged = {id for id, c in checks.items() if c["status"] != "pass"}
    assert flagged and flagged != set(checks)
    # one file per rule that warns or fails, none for the others
    assert {p.stem for p in evidence.glob("*.csv")} == flagged
    for id in flagged:
        rows = read(evidence, id)
        if ruleset_checks()[id]["rule"] == "unique":
            # every row of each duplicate group: failed plus one first row per group
            assert len(rows) == census.evidence[id] > checks[id]["failed"], id
        else:
            assert len(rows) == checks[id]["failed"] == census.failed(id), id
            key = "case_id" if id == "no_rework" else \
                "interaction_id" if "interaction_id" in rows[0] else "customer_id"
            assert sorted(r[key] for r in rows) == sorted(census.failing[id]), id
    stale = read(evidence, "not_stale")
    assert {r["customer_id"] for r in census.customers if r["created_at"] < "2023-01-01"} <= \
        {r["customer_id"] for r in stale}


def test_junit_has_a_testcase_per_check(defective, tmp_path, capsys):
    folder, _, census, _ = defective
    out = tmp_path / "junit.xml"
    assert main(["run", str(CENSUS), "--data", str(folder), "--format", "junit", "--out", str(out)]) == 1
    root = ET.parse(out).getroot()
    cases = {tc.get("name"): tc for tc in root.iter("testcase")}
    spec = ruleset_checks()
    assert len(list(root.iter("testcase"))) == len(cases) == len(spec) == 21
    expected = {id: expected_status(s, census.rows[id], census.failed(id)) for id, s in spec.items()}
    assert {id for id, tc in cases.items() if tc.find("failure") is not None} == \
        {id for id, s in expected.items() if s == "fail"}
    assert {id for id, tc in cases.items() if tc.find("skipped") is not None} == \
        {id for id, s in expected.items() if s == "warn"}
    failures = [id for id, s in expected.items() if s == "fail"]
    assert failures and all(cases[id].find("skipped") is None for id in failures)
    suite = root.find("testsuite")
    assert int(suite.get("tests")) == 21
    assert int(suite.get("failures")) == len(failures)
    message = cases["not_stale"].find("failure").get("message")
    assert f"{census.failed('not_stale')} of {census.rows['not_stale']} rows fail" in message


# ---------------------------------------------------------------- breakdowns

def breakdown(result, source: str) -> dict[str, dict]:
    table = next(b for b in result.breakdowns if b["source"] == source)
    key = table["by"][0]
    return {row[key]: row for row in table["rows"]}


def test_satisfaction_and_response_by_channel(defective):
    _, _, census, result = defective
    rows = breakdown(result, "interactions")
    satisfaction, response = collections.defaultdict(list), collections.defaultdict(list)
    for r in census.interactions:
        if r["satisfaction"]:
            satisfaction[r["channel"]].append(int(r["satisfaction"]))
        if r["first_response_at"]:
            response[r["channel"]].append(hours(when(r["opened_at"]), when(r["first_response_at"])))
    assert set(rows) == set(satisfaction) == {"phone", "email", "chat", "social", "visit"}
    for channel in rows:
        assert rows[channel]["satisfaction_by_channel"] == pytest.approx(statistics.mean(satisfaction[channel]))
        assert rows[channel]["response_by_channel"] == pytest.approx(statistics.median(response[channel]))


def test_cycle_time_and_bottleneck_by_process(defective):
    _, _, census, result = defective
    cycles = collections.defaultdict(list)
    for (_, process), steps in census.cases.items():
        cycles[process].append(hours(min(when(s["started_at"]) for s in steps),
                                     max(when(s["ended_at"]) for s in steps)))
    durations = collections.defaultdict(list)
    for s in census.steps:
        durations[s["process"], s["step"]].append(hours(when(s["started_at"]), when(s["ended_at"])))
    medians = {k: statistics.median(v) for k, v in durations.items()}
    cases = breakdown(result, "cases")
    steps = breakdown(result, "step_durations")
    assert set(cases) == set(steps) == set(cycles) == {"sales", "service", "approval"}
    for process in cycles:
        assert cases[process]["cycle_median"] == pytest.approx(statistics.median(cycles[process]))
        assert cases[process]["cycle_p90"] == pytest.approx(quantile(cycles[process], 0.9))
        longest = max(m for (p, _), m in medians.items() if p == process)
        tied = {step for (p, step), m in medians.items() if p == process and m == longest}
        assert steps[process]["bottleneck"] in tied, process
