#!/usr/bin/env python3
"""rulesets/customer_health.yaml written by hand in Polars, as a Polars user would: the
same measures per customer, KPIs, band and linear scores, category and total scores,
segments (grades) and ranks, written as the same Parquet table as
`assess run rulesets/customer_health.yaml --format parquet` (without the `actions` column).

    python bench/customer_health_hand.py --data DIR --out FILE.parquet

The floor that bench/entities.py measures `assess` against: no ruleset, no validation,
no strengths, weaknesses, statuses or actions, no report.
"""
from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import Callable

import polars as pl

START, END = dt.date(2025, 1, 1), dt.date(2025, 12, 31)
KEY = "customer_id"


def bands(x: pl.Expr, steps: list[tuple[float, float]], lower: bool = False) -> pl.Expr:
    out: pl.Expr = pl.lit(0.0)
    for threshold, points in reversed(steps):
        out = pl.when(x <= threshold if lower else x >= threshold).then(points).otherwise(out)
    return out


def arguments() -> tuple[argparse.Namespace, Callable[[str], pl.LazyFrame]]:
    """--data and --out, and a scan of each table of --data (for bench/crm_hand.py too)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    return args, lambda name: pl.scan_parquet(args.data / f"{name}.parquet")


def main() -> None:
    args, scan = arguments()
    in_period = lambda c: pl.col(c).is_between(START, END)  # noqa: E731

    customers = scan("customers").group_by(KEY).agg(pl.len().alias("customers_n"), pl.col("name").first())
    orders = scan("orders").group_by(KEY).agg(
        (pl.lit(END) - pl.col("ordered_at")).dt.total_days(fractional=True)
        .filter(pl.col("ordered_at") <= END).min().alias("days_since_order"),
        in_period("ordered_at").sum().alias("orders_n"),
        pl.col("amount").filter(in_period("ordered_at")).sum().alias("revenue"))
    surveys = scan("surveys").filter(in_period("answered_at")).group_by(KEY).agg(
        pl.col("csat").mean().alias("csat_mean"), pl.col("nps").mean().alias("nps_mean"))
    opened = pl.col("opened_at").dt.date()
    interactions = scan("interactions").group_by(KEY).agg(
        ((pl.col("kind") == "complaint") & opened.is_between(START, END)).sum().alias("complaints_n"),
        ((opened <= END) & pl.col("resolved_at").is_null()).sum().alias("open_n"))
    frame = customers
    for part in (orders, surveys, interactions):
        frame = frame.join(part, on=KEY, how="full", coalesce=True)
    per = pl.max_horizontal(pl.col("customers_n").fill_null(0), pl.lit(1))
    kpis = frame.filter(pl.col(KEY).is_not_null()).select(
        pl.col(KEY).alias("id"), pl.coalesce(pl.col("name"), pl.col(KEY)).alias("name"),
        pl.col("days_since_order").fill_null(9999.0).alias("recency_days"),
        (pl.col("orders_n").fill_null(0) / per).alias("orders_per_customer"),
        (pl.col("revenue").fill_null(0) / per).alias("revenue_per_customer"),
        pl.col("csat_mean").fill_null(3.0).alias("csat"), pl.col("nps_mean").fill_null(7.0).alias("nps"),
        (pl.col("complaints_n").fill_null(0) / per).alias("complaints"),
        (pl.col("open_n").fill_null(0) / per).alias("open_tickets"))
    scores = kpis.with_columns(
        bands(pl.col("recency_days"), [(30, 100), (90, 75), (180, 50), (365, 25)], lower=True).alias("recency_days.score"),
        bands(pl.col("orders_per_customer"), [(12, 100), (6, 75), (3, 50), (1, 25)]).alias("orders_per_customer.score"),
        bands(pl.col("revenue_per_customer"), [(20000, 100), (8000, 75), (3000, 50), (1, 25)]).alias("revenue_per_customer.score"),
        ((pl.col("csat") - 2.5) / 2.0 * 100).clip(0, 100).round(9).alias("csat.score"),
        bands(pl.col("nps"), [(9, 100), (7, 50)]).alias("nps.score"),
        bands(pl.col("complaints"), [(0, 100), (1, 60), (2, 30)], lower=True).alias("complaints.score"),
        bands(pl.col("open_tickets"), [(0, 100), (1, 50)], lower=True).alias("open_tickets.score"))
    # scores kept to 9 decimals, as the engine keeps them (score.SCORE_DIGITS), so float
    # noise does not break the ties of the ranks
    purchase = ((pl.col("recency_days.score") + pl.col("orders_per_customer.score")
                 + pl.col("revenue_per_customer.score")) / 3).round(9)
    voice = ((pl.col("csat.score") + pl.col("nps.score")) / 2).round(9)
    service = ((pl.col("complaints.score") + pl.col("open_tickets.score")) / 2).round(9)
    total = ((60 * purchase + 25 * voice + 15 * service) / 100).round(9)
    grade = (pl.when(total >= 80).then(pl.lit("champions")).when(total >= 65).then(pl.lit("loyal"))
             .when(total >= 50).then(pl.lit("potential")).when(total >= 35).then(pl.lit("at_risk"))
             .otherwise(pl.lit("hibernating")))
    out = scores.with_columns(total.alias("score")).with_columns(
        pl.col("score").rank("min", descending=True).cast(pl.Int64).alias("rank"), grade.alias("grade"))
    names = ["recency_days", "orders_per_customer", "revenue_per_customer", "csat", "nps", "complaints", "open_tickets"]
    out.select("id", "name", "rank", "score", "grade", *(c for k in names for c in (k, f"{k}.score"))) \
        .sort(["rank", "id"]).collect().write_parquet(args.out)


if __name__ == "__main__":
    main()
