"""The ten rules of bench/dq_rules.yaml as one lean hand-written Polars select, the floor
assess is compared with in bench/README.md (no evidence, no report):

    /usr/bin/time -f "%e s %M KB" python bench/dq_lean.py /tmp/assess-bench/dq-c1250000-s7-d0.001
"""
import sys
import time

import polars as pl

start = time.perf_counter()
c = pl.col
counts = pl.scan_parquet(f"{sys.argv[1]}/interactions.parquet").select(
    pl.len().alias("rows"),
    c("interaction_id").null_count().alias("interaction_id_not_null"),
    c("channel").null_count().alias("channel_not_null"),
    c("satisfaction").null_count().alias("satisfaction_not_null"),
    (c("interaction_id").is_not_null().sum() - c("interaction_id").drop_nulls().n_unique()).alias("interaction_id_unique"),
    (~c("channel").is_in(["phone", "email", "chat", "social", "visit"])).sum().alias("channel_allowed"),
    (~c("kind").is_in(["complaint", "inquiry", "sales", "service"])).sum().alias("kind_allowed"),
    (~c("satisfaction").is_between(1, 5)).sum().alias("satisfaction_range"),
    (~c("customer_id").str.contains("^C[0-9]+$")).sum().alias("customer_id_format"),
    (c("resolved_at") < c("opened_at")).sum().alias("resolved_after_opened"),
).collect()
print(counts.row(0, named=True), f"{time.perf_counter() - start:.2f} s in process")
