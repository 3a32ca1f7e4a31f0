#!/usr/bin/env python3
"""rulesets/crm_assessment.yaml written by hand in Polars: the same 12 measures, 5 KPIs,
their linear scores, category scores, total and grade, and the failing counts of its 4
data-quality rules, one lazy query per source collected together, printed as JSON.

    python bench/crm_hand.py --data DIR --out FILE.json

The floor bench/entities.py measures `assess run rulesets/crm_assessment.yaml` against
(its fixed cost: start-up, imports, validation, rendering). No failing-row samples, no
actions, no report.
"""
from __future__ import annotations

import datetime as dt
import json

import polars as pl

from customer_health_hand import arguments

START, END = dt.date(2025, 1, 1), dt.date(2025, 12, 31)


def main() -> None:
    args, scan = arguments()
    active = lambda d: (pl.col("created_at") <= d) & (pl.col("churned_at").is_null() | (pl.col("churned_at") > d))  # noqa: E731
    answered = pl.col("answered_at").is_between(START, END)
    opened = pl.col("opened_at").dt.date().is_between(START, END)
    created = pl.col("created_at").is_between(START, END)
    queries = [
        scan("customers").select(
            active(START).sum().alias("customers_at_start"),
            (active(START) & (pl.col("churned_at").is_null() | (pl.col("churned_at") > END))).sum().alias("retained"),
            pl.col("customer_id").null_count().alias("customer_id_null"),
            pl.col("email").null_count().alias("email_null"), pl.len().alias("customers_rows")),
        scan("leads").select(created.sum().alias("leads_in_period"),
                             (created & (pl.col("converted_at") <= END)).sum().alias("leads_converted")),
        scan("surveys").select(
            (answered & pl.col("csat").is_not_null()).sum().alias("csat_answers"),
            (answered & (pl.col("csat") >= 4)).sum().alias("csat_satisfied"),
            (answered & pl.col("nps").is_not_null()).sum().alias("nps_answers"),
            (answered & (pl.col("nps") >= 9)).sum().alias("promoters"),
            (answered & (pl.col("nps") <= 6)).sum().alias("detractors"),
            (~((pl.col("nps") >= 0) & (pl.col("nps") <= 10))).fill_null(True).sum().alias("nps_out_of_range")),
        scan("interactions").select(
            opened.sum().alias("interactions_opened"),
            (opened & (pl.col("kind") == "complaint")).sum().alias("complaints"),
            (pl.col("resolved_at") < pl.col("opened_at")).sum().alias("resolved_before_opened")),
    ]
    m = {k: v for frame in pl.collect_all(queries) for k, v in frame.row(0, named=True).items()}
    kpis = {"retention_rate": (m["retained"] / m["customers_at_start"], 0.85, 0.60),
            "conversion_rate": (m["leads_converted"] / m["leads_in_period"], 0.30, 0.10),
            "csat": (m["csat_satisfied"] / m["csat_answers"], 0.80, 0.50),
            "nps": ((m["promoters"] - m["detractors"]) / m["nps_answers"] * 100, 40, -20),
            "complaint_rate": (m["complaints"] / m["interactions_opened"], 0.08, 0.20)}
    score = {k: max(0.0, min(100.0, (v - floor) / (target - floor) * 100)) for k, (v, target, floor) in kpis.items()}
    categories = {"loyalty": score["retention_rate"], "acquisition": score["conversion_rate"],
                  "feedback": (15 * score["csat"] + 10 * score["nps"] + 5 * score["complaint_rate"]) / 30}
    total = (40 * categories["loyalty"] + 30 * categories["acquisition"] + 30 * categories["feedback"]) / 100
    grade = next(g for floor, g in ((90, "A"), (80, "B"), (70, "C"), (60, "D"), (0, "E")) if total >= floor)
    args.out.write_text(json.dumps({"kpis": {k: {"value": v, "score": score[k]} for k, (v, _, _) in kpis.items()},
                                    "categories": categories, "score": total, "grade": grade, "measures": m}))


if __name__ == "__main__":
    main()
