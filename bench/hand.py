#!/usr/bin/env python3
"""bench/engine_rules.yaml written by hand in plain Polars: the baseline of bench/run.py.

What a Polars expert would write to compute the same scorecard numbers: one lazy query
per source (orders and surveys joined once to customers, for the owner and for the
`references` rule at the same time; interactions joined once to the customer ids), all
of a source's measures and rule counts in one `select`, all its per-owner measures in one
`group_by`, every query run by one `collect_all`; then the 32 KPI formulas over the
collected one-row and per-owner frames. For the rules that warn or fail, up to 100
failing rows each, in file order (as `assess` keeps them as evidence), in a second
`collect_all`: `assess` reports them, so the same work is done here.

    python bench/hand.py --data DIR --out hand.json [--engine auto|streaming] [--samples 100]

The JSON it writes has the KPIs (overall and per owner), every rule's rows, failed,
status and samples; bench/run.py checks them against `assess run --format json`.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
from pathlib import Path

import polars as pl

P0, P1 = dt.date(2025, 1, 1), dt.date(2025, 12, 31)
T0, T1 = dt.datetime(2025, 1, 1), dt.datetime(2026, 1, 1)  # the period as datetimes, end excluded
BIG_ORDER, RESPONSE_HOURS, MAX_AGE = 5000, 24, 30
EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
MOBILE = r"(\+?86[- ]?)?1[3-9][0-9]{9}"
SEVERITY = {"low": 1, "medium": 2, "high": 3}
KEYS = {"customers": "customer_id", "orders": "order_id", "interactions": "interaction_id",
        "surveys": "survey_id", "leads": "lead_id"}
c = pl.col


def hours(start: str, end: str) -> pl.Expr:
    return (c(end) - c(start)).dt.total_hours(fractional=True)


def div(a: pl.Expr, b: pl.Expr) -> pl.Expr:
    return pl.when(b != 0).then(a / b)


def count(cond: pl.Expr) -> pl.Expr:
    return cond.sum().cast(pl.Float64)


def repeated(frame: pl.LazyFrame, key: pl.Expr, limit: int, engine: str) -> pl.Series:
    """The values whose rows assess shows as a `unique` rule's samples."""
    def smallest(f: pl.LazyFrame) -> pl.DataFrame:
        return (f.group_by(key.alias("v")).len().filter(c("v").is_not_null() & (c("len") > 1))
                .select(c("v").sort().head(limit)).collect(engine=engine))
    found = smallest(frame.head(100_000))
    return (found if found.height else smallest(frame))["v"]


def distinct_extra(key: pl.Expr, scope: pl.Expr | None = None) -> pl.Expr:
    """Rows with a value beyond the first of each value (the `unique` rule's count)."""
    present = key.is_not_null() if scope is None else key.is_not_null() & scope
    return present.sum() - key.filter(present).n_unique()


# -- rules: (source, failing-row predicate, scope or None, evidence columns, severity, warn, fail)
# thresholds: ("ratio", "<", x) or ("failed", ">", n); neither: any failing row fails

email_ok = c("email").str.contains(f"^(?:{EMAIL})$")
phone_ok = c("phone").str.contains(f"^(?:{MOBILE})$")
email_key = c("email").str.strip_chars().str.to_lowercase()
email_key = pl.when(email_key.str.len_chars() > 0).then(email_key)
phone_key = c("phone").str.replace_all(r"[^0-9]", "").str.replace(r"^86([0-9]{11})$", "$1")
phone_key = pl.when(phone_key.str.len_chars() > 0).then(phone_key)


def blank(name: str) -> pl.Expr:
    return c(name).is_null() | (c(name).str.strip_chars() == "")


def outside(name: str, values: list[str]) -> pl.Expr:
    return c(name).is_not_null() & ~c(name).is_in(values)


def not_matching(name: str, regex: str) -> pl.Expr:
    return c(name).is_not_null() & ~c(name).str.contains(f"^(?:{regex})$")


def out_of(name: str, low: float, high: float) -> pl.Expr:
    return c(name).is_not_null() & ((c(name) < low) | (c(name) > high))


def inverted(later: str, earlier: str) -> tuple[pl.Expr, pl.Expr]:
    """consistency `later >= earlier`: (failing, scope of rows with both present)."""
    both = c(later).is_not_null() & c(earlier).is_not_null()
    return both & (c(later) < c(earlier)), both


RATIO99 = (("ratio", "<", 0.99), ("ratio", "<", 0.95))
churn_bad, churn_scope = inverted("churned_at", "created_at")
resp_bad, resp_scope = inverted("first_response_at", "opened_at")
res_bad, res_scope = inverted("resolved_at", "opened_at")
conv_bad, conv_scope = inverted("converted_at", "created_at")

RULES: dict[str, dict] = {
    "customer_id_present": {"source": "customers", "failing": c("customer_id").is_null(), "columns": ["customer_id"], "severity": "high"},
    "customer_id_unique": {"source": "customers", "unique": c("customer_id"), "columns": ["customer_id"], "severity": "high"},
    "customer_name_present": {"source": "customers", "failing": blank("name"), "columns": ["name"]},
    "customer_email_present": {"source": "customers", "failing": blank("email"), "columns": ["email"], "thresholds": RATIO99},
    "customer_email_valid": {"source": "customers", "failing": not_matching("email", EMAIL), "columns": ["email"], "thresholds": RATIO99},
    "customer_phone_valid": {"source": "customers", "failing": not_matching("phone", MOBILE), "columns": ["phone"], "thresholds": RATIO99},
    "customer_email_unique": {"source": "customers", "unique": email_key, "scope": email_ok.fill_null(False), "columns": ["email"],
                                  "thresholds": (("ratio", "<", 0.995), ("ratio", "<", 0.98))},
    "customer_phone_unique": {"source": "customers", "unique": phone_key, "scope": phone_ok.fill_null(False), "columns": ["phone"],
                                  "thresholds": (("ratio", "<", 0.995), ("ratio", "<", 0.98))},
    "customer_segment_known": {"source": "customers", "failing": outside("segment", ["enterprise", "mid_market", "smb"]), "columns": ["segment"]},
    "customer_region_known": {"source": "customers", "failing": outside("region", ["Central", "East", "North", "South", "West"]), "columns": ["region"]},
    "customer_owner_code": {"source": "customers", "failing": not_matching("owner", "E[0-9]{2}"), "columns": ["owner"]},
    "customer_churn_after_creation": {"source": "customers", "failing": churn_bad, "scope": churn_scope, "columns": ["churned_at", "created_at"]},
    "customer_reachable": {"source": "customers", "failing": ~(email_ok | phone_ok).fill_null(False), "columns": ["email", "phone"], "thresholds": RATIO99},
    "order_id_unique": {"source": "orders", "unique": c("order_id"), "columns": ["order_id"], "severity": "high"},
    "order_amount_positive": {"source": "orders", "failing": c("amount").is_not_null() & (c("amount") <= 0), "columns": ["amount"]},
    "order_product_known": {"source": "orders", "failing": outside("product_line", ["core", "addons", "services", "support"]), "columns": ["product_line"]},
    "order_customer_exists": {"source": "orders", "failing": c("_found").is_null() & c("customer_id").is_not_null(), "columns": ["customer_id"],
                                  "thresholds": (("failed", ">", 0), ("ratio", "<", 0.99)), "orphans": True},
    "order_date_present": {"source": "orders", "failing": c("ordered_at").is_null(), "columns": ["ordered_at"]},
    "interaction_id_unique": {"source": "interactions", "unique": c("interaction_id"), "columns": ["interaction_id"], "severity": "high"},
    "interaction_customer_exists": {"source": "interactions", "failing": c("_found").is_null() & c("customer_id").is_not_null(),
                                        "columns": ["customer_id"], "thresholds": (("failed", ">", 0), ("ratio", "<", 0.95)), "orphans": True},
    "interaction_customer_code": {"source": "interactions", "failing": not_matching("customer_id", "C[0-9]+"), "columns": ["customer_id"]},
    "interaction_channel_known": {"source": "interactions", "failing": outside("channel", ["phone", "email", "chat", "social", "visit"]), "columns": ["channel"]},
    "interaction_kind_known": {"source": "interactions", "failing": outside("kind", ["complaint", "inquiry", "sales", "service"]), "columns": ["kind"]},
    "interaction_satisfaction_range": {"source": "interactions", "failing": out_of("satisfaction", 1, 5), "columns": ["satisfaction"]},
    "interaction_response_after_open": {"source": "interactions", "failing": resp_bad, "scope": resp_scope, "columns": ["first_response_at", "opened_at"]},
    "interaction_resolved_after_open": {"source": "interactions", "failing": res_bad, "scope": res_scope, "columns": ["opened_at", "resolved_at"]},
    "interaction_response_recorded": {"source": "interactions", "failing": c("first_response_at").is_null(), "scope": c("resolved_at").is_not_null(),
                                          "columns": ["first_response_at"], "thresholds": (("ratio", "<", 0.99), None)},
    "survey_nps_range": {"source": "surveys", "failing": out_of("nps", 0, 10), "columns": ["nps"]},
    "survey_csat_range": {"source": "surveys", "failing": out_of("csat", 1, 5), "columns": ["csat"]},
    "survey_customer_exists": {"source": "surveys", "failing": c("_found").is_null() & c("customer_id").is_not_null(), "columns": ["customer_id"],
                                   "thresholds": (("failed", ">", 0), ("ratio", "<", 0.99)), "orphans": True},
    "lead_id_unique": {"source": "leads", "unique": c("lead_id"), "columns": ["lead_id"]},
    "lead_converted_after_created": {"source": "leads", "failing": conv_bad, "scope": conv_scope, "columns": ["converted_at", "created_at"]},
    "lead_converted_has_customer": {"source": "leads", "failing": ~(c("converted_at").is_null() | c("customer_id").is_not_null()),
                                        "columns": ["converted_at", "customer_id"]},
}
# whole-table rules, computed in the interactions select: (rows 1, failed 0/1)
TABLE_RULES = {"interaction_fresh": "interactions", "interaction_rows": "interactions"}
ORDER = ["customer_id_present", "customer_id_unique", "customer_name_present", "customer_email_present",
         "customer_email_valid", "customer_phone_valid", "customer_email_unique", "customer_phone_unique",
         "customer_segment_known", "customer_region_known", "customer_owner_code", "customer_churn_after_creation",
         "customer_reachable", "order_id_unique", "order_amount_positive", "order_product_known",
         "order_customer_exists", "order_date_present", "interaction_id_unique", "interaction_customer_exists",
         "interaction_customer_code", "interaction_channel_known", "interaction_kind_known",
         "interaction_satisfaction_range", "interaction_response_after_open", "interaction_resolved_after_open",
         "interaction_response_recorded", "interaction_fresh", "interaction_rows", "survey_nps_range",
         "survey_csat_range", "survey_customer_exists", "lead_id_unique", "lead_converted_after_created",
         "lead_converted_has_customer"]


def rule_counts(source: str) -> list[pl.Expr]:
    out = []
    for rid, r in RULES.items():
        if r["source"] != source:
            continue
        scope = r.get("scope")
        if "unique" in r:
            failed = distinct_extra(r["unique"], scope)
        else:
            failed = (r["failing"] & scope).sum() if scope is not None else r["failing"].sum()
        rows = pl.len() if scope is None else scope.sum()
        out += [rows.cast(pl.Int64).alias(f"{rid}.rows"), failed.cast(pl.Int64).alias(f"{rid}.failed")]
    return out


# -- measures: per source, the same list serves the overall select and the group_by

in_period_c = c("created_at").is_between(P0, P1)
ordered = c("ordered_at").is_between(P0, P1)
opened = (c("opened_at") >= T0) & (c("opened_at") < T1)
answered = c("answered_at").is_between(P0, P1)
at_start = (c("created_at") <= P0) & (c("churned_at").is_null() | (c("churned_at") > P0))

MEASURES: dict[str, list[pl.Expr]] = {
    "customers": [
        count(at_start).alias("customers_at_start"),
        count((c("created_at") <= P0) & (c("churned_at").is_null() | (c("churned_at") > P1))).alias("retained"),
        count(c("churned_at").is_between(P0, P1)).alias("churned"),
        count(in_period_c).alias("new_customers"),
        count(c("churned_at").is_null()).alias("active_customers"),
        count((c("segment") == "enterprise") & c("churned_at").is_null()).alias("enterprise_active"),
        c("region").drop_nulls().n_unique().alias("regions"),
    ],
    "orders": [
        c("amount").filter(ordered).sum().alias("revenue"),
        c("amount").filter(ordered & (c("product_line") == "core")).sum().alias("core_revenue"),
        count(ordered).alias("order_count"),
        count(ordered & (c("amount") >= BIG_ORDER)).alias("big_orders"),
        c("customer_id").filter(ordered).drop_nulls().n_unique().alias("buyers"),
        c("amount").filter(ordered).median().alias("order_median"),
        c("amount").filter(ordered).quantile(0.9, interpolation="linear").alias("order_p90"),
    ],
    "interactions": [
        count(opened).alias("touches"),
        count(opened & (c("kind") == "complaint")).alias("complaints"),
        count(opened & c("resolved_at").is_not_null()).alias("resolved"),
        count(opened & (hours("opened_at", "first_response_at") <= RESPONSE_HOURS)).alias("answered_in_time"),
        hours("opened_at", "first_response_at").filter(opened).median().alias("response_median"),
        hours("opened_at", "resolved_at").filter(opened).mean().alias("resolution_mean"),
        c("satisfaction").filter(opened).count().alias("rated"),
        count(opened & (c("satisfaction") >= 4)).alias("rated_high"),
        c("satisfaction").filter(opened).mean().alias("satisfaction_mean"),
        c("customer_id").filter(opened).drop_nulls().n_unique().alias("touched_customers"),
    ],
    "surveys": [
        c("nps").filter(answered).count().alias("nps_answers"),
        count(answered & (c("nps") >= 9)).alias("promoters"),
        count(answered & (c("nps") <= 6)).alias("detractors"),
        c("csat").filter(answered).count().alias("csat_answers"),
        count(answered & (c("csat") >= 4)).alias("csat_satisfied"),
        c("csat").filter(answered).mean().alias("csat_mean"),
    ],
    "leads": [
        count(in_period_c).alias("leads_created"),
        count(in_period_c & c("converted_at").is_not_null()).alias("leads_converted"),
        count(in_period_c & (c("channel") == "web")).alias("web_leads"),
        (c("converted_at") - c("created_at")).dt.total_days(fractional=True).filter(in_period_c).median()
        .alias("conversion_days"),
    ],
}
ADDITIVE = {"customers_at_start", "retained", "churned", "new_customers", "active_customers", "enterprise_active",
            "regions", "revenue", "core_revenue", "order_count", "big_orders", "buyers", "touches", "complaints",
            "resolved", "answered_in_time", "rated", "rated_high", "touched_customers", "nps_answers", "promoters",
            "detractors", "csat_answers", "csat_satisfied", "leads_created", "leads_converted", "web_leads"}

KPIS: dict[str, pl.Expr] = {
    "retention_rate": div(c("retained"), c("customers_at_start")),
    "churn_rate": div(c("churned"), c("customers_at_start")),
    "new_customers_kpi": c("new_customers"),
    "enterprise_share": div(c("enterprise_active"), c("active_customers")),
    "regions_covered": c("regions"),
    "revenue_kpi": c("revenue"),
    "revenue_per_buyer": div(c("revenue"), c("buyers")),
    "orders_per_buyer": div(c("order_count"), c("buyers")),
    "big_order_share": div(c("big_orders"), c("order_count")),
    "core_share": div(c("core_revenue"), c("revenue")),
    "median_order": c("order_median"),
    "p90_order": c("order_p90"),
    "revenue_per_customer": div(c("revenue"), c("customers_at_start")),
    "buyer_share": div(c("buyers"), c("active_customers")),
    "complaint_rate": div(c("complaints"), c("touches")),
    "resolution_rate": div(c("resolved"), c("touches")),
    "response_in_time": div(c("answered_in_time"), c("touches")),
    "first_response_hours": c("response_median"),
    "resolution_hours": c("resolution_mean"),
    "interaction_csat": div(c("rated_high"), c("rated")),
    "satisfaction": c("satisfaction_mean"),
    "touch_coverage": div(c("touched_customers"), c("active_customers")),
    "touches_per_customer": div(c("touches"), c("touched_customers")),
    "nps": div(c("promoters") - c("detractors"), c("nps_answers")) * 100,
    "survey_csat": div(c("csat_satisfied"), c("csat_answers")),
    "csat_score": c("csat_mean"),
    "survey_reach": div(c("nps_answers"), c("active_customers")),
    "lead_conversion": div(c("leads_converted"), c("leads_created")),
    "days_to_convert": c("conversion_days"),
    "web_lead_share": div(c("web_leads"), c("leads_created")),
    "leads_per_new_customer": div(c("leads_created"), c("new_customers")),
}


def status(rid: str, rows: int, failed: int) -> str:
    thresholds = RULES.get(rid, {}).get("thresholds")
    if not thresholds:
        return "fail" if failed else "pass"
    ratio = (rows - failed) / rows if rows else None

    def holds(t: tuple | None) -> bool:
        if t is None:
            return False
        metric, op, limit = t
        value = ratio if metric == "ratio" else failed
        return value is not None and (value < limit if op == "<" else value > limit)
    warn, fail = thresholds
    return "fail" if holds(fail) else "warn" if holds(warn) else "pass"


def plain(v):
    if isinstance(v, float):
        return None if math.isnan(v) or math.isinf(v) else v
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    return v


def scan(data: Path, name: str) -> pl.LazyFrame:
    return pl.scan_parquet(data / f"{name}.parquet")


def queries(data: Path) -> tuple[dict[str, pl.LazyFrame], list[pl.LazyFrame], list[pl.LazyFrame]]:
    """Each source as the queries read it; one select and one group_by per source."""
    customers = scan(data, "customers")
    # one join serves both the borrowed owner and the `references` rule
    owners = customers.select("customer_id", "owner").unique("customer_id", keep="first") \
        .with_columns(pl.lit(True).alias("_found"))
    known = customers.select(c("customer_id")).unique().with_columns(pl.lit(True).alias("_found"))
    frames = {
        "customers": customers,
        "orders": scan(data, "orders").join(owners, on="customer_id", how="left"),
        "interactions": scan(data, "interactions").join(known, on="customer_id", how="left"),
        "surveys": scan(data, "surveys").join(owners, on="customer_id", how="left"),
        "leads": scan(data, "leads"),
    }
    overall_q, by_q = [], []
    for name, frame in frames.items():
        extra = [pl.len().alias(f"{name}.rows")]
        if name == "interactions":
            extra.append(c("opened_at").max().cast(pl.Date).alias("interaction_fresh.observed"))
        overall_q.append(frame.select(*MEASURES[name], *rule_counts(name), *extra))
        by_q.append(frame.group_by("owner").agg(MEASURES[name]))
    return frames, overall_q, by_q


def leave_out(names: set[str]) -> None:
    """Drop measures, KPIs and rules by name (from the module's tables, before building)."""
    for source, measures in MEASURES.items():
        MEASURES[source] = [m for m in measures if m.meta.output_name() not in names]
    for name in names:
        KPIS.pop(name, None)
        RULES.pop(name, None)
    ORDER[:] = [r for r in ORDER if r not in names]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--engine", default="auto")
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--without", default="", help="measures, KPIs and rules to leave out, comma-separated "
                    "(as bench/run.py leaves them out of the ruleset for the streamable variant)")
    args = ap.parse_args()
    leave_out(set(filter(None, args.without.split(","))))
    data = Path(args.data)
    frames, overall_q, by_q = queries(data)
    results = pl.collect_all(overall_q + by_q, engine=args.engine)
    overall = pl.concat(results[:len(frames)], how="horizontal")
    entities = results[len(frames)]
    for part in results[len(frames) + 1:]:
        entities = entities.join(part, on="owner", how="full", coalesce=True)
    entities = entities.filter(c("owner").is_not_null()).sort("owner") \
        .with_columns(c(m).fill_null(0) for m in ADDITIVE if m in entities.columns)

    row = overall.row(0, named=True)
    checks = {}
    for rid in RULES:
        checks[rid] = {"rows": row[f"{rid}.rows"], "failed": row[f"{rid}.failed"]}
    newest = row["interaction_fresh.observed"]
    checks["interaction_fresh"] = {"rows": 1, "failed": int(newest is None or newest < P1 - dt.timedelta(days=MAX_AGE))}
    checks["interaction_rows"] = {"rows": 1, "failed": int(row["interactions.rows"] < 1)}
    for rid, ch in checks.items():
        ch["status"] = status(rid, ch["rows"], ch["failed"])
        ch["samples"] = []

    # data quality: the passing ratios weighted by severity, on every scorecard
    weighted = [(SEVERITY[RULES.get(rid, {}).get("severity", "medium")], (ch["rows"] - ch["failed"]) / ch["rows"])
                for rid, ch in checks.items() if ch["rows"]]
    quality = sum(w * r * 100 for w, r in weighted) / sum(w for w, _ in weighted)
    kpis = [e.alias(k) for k, e in KPIS.items()] + [pl.lit(quality).alias("data_quality_score")]
    finite = [pl.when(c(k).is_finite()).then(c(k)).alias(k) for k in [*KPIS, "data_quality_score"]]
    overall_kpis = overall.select(kpis).select(finite).row(0, named=True)
    entity_kpis = entities.select("owner", *kpis).select("owner", *finite)

    # evidence: up to N failing rows of each rule that warns or fails, in file order
    flagged = [rid for rid in RULES if checks[rid]["status"] != "pass"]
    wanted = []
    for rid in flagged:
        r = RULES[rid]
        source = r["source"]
        columns = list(dict.fromkeys([KEYS[source], *r["columns"]]))
        if r.get("orphans"):  # the rows whose customer is unknown: an anti join keeps file order
            frame = scan(data, source).join(scan(data, "customers").select("customer_id"), on="customer_id",
                                            how="anti", maintain_order="left")
            wanted.append(frame.select(columns).head(args.samples))
            continue
        frame = scan(data, source)
        if r.get("scope") is not None:
            frame = frame.filter(r["scope"])
        failing = r.get("failing")
        if "unique" in r:  # assess's samples: the rows of the smallest values repeated in
            # the first 100,000 rows in scope (in all of them when none repeats there)
            failing = r["unique"].is_in(repeated(frame, r["unique"], args.samples, args.engine).implode())
        wanted.append(frame.filter(failing).select(columns).head(args.samples))
    if wanted and args.samples > 0:
        for rid, df in zip(flagged, pl.collect_all(wanted, engine=args.engine)):
            checks[rid]["samples"] = [{k: plain(v) for k, v in d.items()} for d in df.to_dicts()]

    out = {"kpis": {k: plain(v) for k, v in overall_kpis.items()},
           "entities": {r["owner"]: {k: plain(v) for k, v in r.items() if k != "owner"}
                        for r in entity_kpis.to_dicts()},
           "checks": {rid: checks[rid] for rid in ORDER},
           "rows": {name: row[f"{name}.rows"] for name in frames}}
    Path(args.out).write_text(json.dumps(out, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
