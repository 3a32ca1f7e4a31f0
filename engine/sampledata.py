"""Deterministic synthetic CRM export: customers, leads, orders, interactions, surveys,
costs, vendors and process logs, with controllable data-quality defects.

Used by tests, demos and benchmarks, so two things matter more than realism details:
the same arguments always give byte-identical files, and every table is built with
whole-array numpy/polars operations (benchmarks ask for 10M-100M interaction rows).

The data has structure on purpose, so that assessments find something: owners
(E01..E12) differ in skill, acquisition channels differ in conversion, vendors
(V01..V05) differ in quality, and a latent per-customer "health" ties churn,
complaints, satisfaction and NPS together.

Dates: the business tables (customers, leads, orders, surveys, vendor_reviews) are
day-grained ``Date`` columns; operational events whose durations are measured in hours
(interactions, vendor_tickets, process_steps) are ``Datetime`` without time zone and
with whole minutes. The export is taken at 2026-01-01T00:00:00: nothing happens
after that moment, so events that would fall later are still open (null).
"""
from __future__ import annotations

import datetime as dt
import pathlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

import numpy as np
import polars as pl

__all__ = ["TABLES", "generate", "tables"]

TABLES: Final[dict[str, tuple[str, ...]]] = {
    "customers": ("customer_id", "name", "email", "phone", "region", "segment", "channel",
                  "owner", "crm_vendor_id", "created_at", "churned_at"),
    "leads": ("lead_id", "created_at", "channel", "owner", "converted_at", "customer_id"),
    "orders": ("order_id", "customer_id", "ordered_at", "amount", "product_line"),
    "interactions": ("interaction_id", "customer_id", "channel", "kind", "owner", "opened_at",
                     "first_response_at", "resolved_at", "satisfaction"),
    "surveys": ("survey_id", "customer_id", "answered_at", "nps", "csat"),
    "costs": ("month", "marketing_cost", "sales_cost"),
    "vendors": ("vendor_id", "name", "category"),
    "vendor_tickets": ("ticket_id", "vendor_id", "severity", "opened_at", "first_response_at",
                       "resolved_at", "sla_hours"),
    "vendor_uptime": ("vendor_id", "month", "uptime_pct", "incidents"),
    "vendor_reviews": ("review_id", "vendor_id", "reviewed_at", "satisfaction", "training_hours"),
    "process_steps": ("case_id", "process", "step", "actor", "started_at", "ended_at"),
}

_EPOCH: Final = dt.date(1970, 1, 1)


def _day(year: int, month: int, day: int) -> int:
    return (dt.date(year, month, day) - _EPOCH).days


_DAY_S: Final = 86_400
_GRID_START: Final = _day(2023, 1, 1)   # customers are created from here on
_LEADS_START: Final = _day(2024, 1, 1)  # the CRM keeps leads only from 2024 on
_EXPORT: Final = _day(2026, 1, 1)       # exclusive end of all activity
_EXPORT_S: Final = _EXPORT * _DAY_S
_STALE_FROM: Final = _day(2015, 1, 1)
_STALE_TO: Final = _day(2020, 1, 1)
_CASES_TO: Final = _day(2025, 11, 20)   # longest case (6 capped steps) still ends in 2025

# Owner skill in [-1, 1]; deliberately not sorted by id so rankings are not trivial.
_OWNERS: Final = tuple(f"E{i:02d}" for i in range(1, 13))
_OWNER_PERF: Final = (0.3, -0.6, 0.9, 0.0, -0.2, 0.5, -0.9, 0.1, 0.6, -0.4, 0.2, -0.3)

_ACQ_CHANNELS: Final = ("web", "ads", "referral", "event", "partner")
_ACQ_LEAD_SHARE: Final = (0.35, 0.25, 0.12, 0.13, 0.15)
_ACQ_CONVERSION: Final = (0.18, 0.12, 0.45, 0.30, 0.35)  # relative; rescaled to the target

_REGIONS: Final = ("North", "East", "South", "West", "Central")
_REGION_SHARE: Final = (0.20, 0.30, 0.25, 0.10, 0.15)

_SEGMENTS: Final = ("smb", "mid_market", "enterprise")
_SEGMENT_SHARE: Final = (0.65, 0.27, 0.08)
_SEGMENT_ORDER_RATE: Final = (0.8, 1.3, 2.0)
_SEGMENT_AMOUNT_MEDIAN: Final = (600.0, 2500.0, 9000.0)
_SEGMENT_HEALTH: Final = (-0.1, 0.1, 0.2)

_VENDORS: Final = ("V01", "V02", "V03", "V04", "V05")
_VENDOR_NAMES: Final = ("Apex CRM Services", "BlueRiver Systems", "Cedar Cloud Partners",
                        "Delta Contact Center", "EastLink Outsourcing")
_VENDOR_CATEGORY: Final = ("crm_platform", "crm_platform", "integration", "call_center",
                           "call_center")
_VENDOR_SHARE: Final = (0.30, 0.25, 0.20, 0.15, 0.10)
_VENDOR_HEALTH: Final = (0.5, 0.25, 0.0, -0.3, -0.6)
_VENDOR_TICKET_RATE: Final = (0.5, 0.8, 1.0, 1.5, 2.2)
_VENDOR_SLOWNESS: Final = (0.5, 0.7, 1.0, 1.5, 2.2)
_VENDOR_DOWNTIME_PCT: Final = (0.02, 0.05, 0.12, 0.30, 0.55)
_VENDOR_REVIEW_MEAN: Final = (4.5, 4.1, 3.6, 3.0, 2.5)
_VENDOR_TRAINING_MEDIAN: Final = (14.0, 10.0, 8.0, 5.0, 3.0)

_INT_CHANNELS: Final = ("phone", "email", "chat", "social", "visit")
_INT_CHANNEL_SHARE: Final = (0.30, 0.30, 0.20, 0.10, 0.10)
_INT_RESPONSE_MEDIAN_H: Final = (0.25, 5.0, 0.2, 3.0, 0.5)
_KINDS: Final = ("inquiry", "complaint", "service", "sales")
_NON_COMPLAINT_SHARE: Final = (0.45, 0.0, 0.35, 0.20)
_KIND_RESOLVE_MEDIAN_H: Final = (4.0, 48.0, 24.0, 12.0)

_PRODUCT_LINES: Final = ("core", "addons", "services", "support")
_PRODUCT_SHARE: Final = (0.45, 0.20, 0.20, 0.15)

# Month-of-year demand (Feb dip, Q4 peak) and weekday demand (weekends are quiet).
_MONTH_WEIGHT: Final = (0.95, 0.70, 1.00, 1.00, 1.00, 0.95, 0.90, 0.90, 1.05, 1.20, 1.35, 1.30)
_WEEKDAY_WEIGHT: Final = (1.0, 1.0, 1.0, 1.0, 1.0, 0.45, 0.35)  # Monday first
_GROWTH_PER_YEAR: Final = 0.12
# Contact hours 00..23: office hours with a lunch dip and a little evening traffic.
_HOUR_WEIGHT: Final = (0.1, 0.05, 0.05, 0.05, 0.05, 0.1, 0.3, 0.8, 2.0, 3.0, 3.2, 2.8,
                       1.8, 2.6, 3.0, 2.9, 2.5, 1.8, 1.0, 0.8, 0.6, 0.4, 0.3, 0.2)

_SURNAMES: Final = (("王", "wang"), ("李", "li"), ("张", "zhang"), ("刘", "liu"), ("陈", "chen"),
                    ("杨", "yang"), ("黄", "huang"), ("赵", "zhao"), ("吴", "wu"), ("周", "zhou"),
                    ("徐", "xu"), ("孙", "sun"), ("马", "ma"), ("朱", "zhu"), ("胡", "hu"),
                    ("郭", "guo"), ("何", "he"), ("高", "gao"), ("林", "lin"), ("罗", "luo"))
_GIVEN: Final = (("伟", "wei"), ("芳", "fang"), ("娜", "na"), ("敏", "min"), ("静", "jing"),
                 ("丽", "li"), ("强", "qiang"), ("磊", "lei"), ("军", "jun"), ("洋", "yang"),
                 ("勇", "yong"), ("艳", "yan"), ("杰", "jie"), ("娟", "juan"), ("涛", "tao"),
                 ("明", "ming"), ("超", "chao"), ("秀英", "xiuying"), ("霞", "xia"),
                 ("平", "ping"), ("刚", "gang"), ("桂英", "guiying"), ("晓明", "xiaoming"),
                 ("婷", "ting"), ("宇", "yu"), ("浩", "hao"), ("欣怡", "xinyi"),
                 ("子涵", "zihan"), ("梓轩", "zixuan"), ("雨桐", "yutong"))
_EMAIL_DOMAINS: Final = ("example.com", "example.cn", "example.net", "mail.example.org")

# Each process is its full step list plus one optional step (skipped in some cases), so
# cases have 3-5 distinct steps and 6 rows at most once a rework repeat is added.
_PROCESSES: Final = ("sales", "service", "approval")
_PROCESS_SHARE: Final = (0.4, 0.4, 0.2)
_PROCESS_STEPS: Final = (("qualify", "propose", "negotiate", "contract", "handover"),
                         ("triage", "diagnose", "escalate", "resolve", "confirm"),
                         ("submit", "review", "legal_review", "approve"))
_PROCESS_OPTIONAL: Final = (2, 2, 2)
_PROCESS_OPTIONAL_SHARE: Final = (0.7, 0.3, 0.4)
_PROCESS_STEP_MEDIAN_H: Final = (20.0, 4.0, 6.0)
_STEP_CAP_H: Final = 96.0
_GAP_CAP_H: Final = 48.0

# Targets per customer (the generator normalises rates so totals land on them).
_LEADS_PER_CUSTOMER: Final = 3
_ORDERS_PER_CUSTOMER: Final = 5.0
_INTERACTIONS_PER_CUSTOMER: Final = 8.0
_SURVEYS_PER_CUSTOMER: Final = 1.5
_CASES_PER_CUSTOMER: Final = 0.5
_TICKETS_PER_CUSTOMER: Final = 0.15
_REVIEWS_PER_CUSTOMER: Final = 0.05
_SHARE_CREATED_2023: Final = 0.25
_ANNUAL_CHURN: Final = 0.17
_COMPLAINT_SHARE: Final = 0.125
_UNRESOLVED_SHARE: Final = 0.03
_CSAT_SKIPPED: Final = 0.08
# Rework is a process KPI, so it needs a visible signal at the default 3 % defect share.
_REWORK_PER_DEFECT: Final = 4.0


def generate(out_dir: pathlib.Path, customers: int = 2000, seed: int = 7, fmt: str = "csv",
             defects: float = 0.03) -> dict[str, int]:
    """Write every table to out_dir/<table>.<csv|parquet>; return {table: row_count}.

    ``customers`` is the exact row count of the customers table (duplicates and stale
    records included); the other per-customer tables scale with it. ``defects`` is the
    share of records hit by each kind of data-quality defect: malformed or missing
    emails and phones, duplicate customers, stale customers, orphan interactions, null
    satisfaction, and (4x that share, capped) process rework. 0 disables all of them.
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt must be 'csv' or 'parquet', not {fmt!r}")
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for name, frame in tables(customers, seed, defects):
        path = out_dir / f"{name}.{fmt}"
        if fmt == "csv":
            frame.write_csv(path, date_format="%Y-%m-%d", datetime_format="%Y-%m-%dT%H:%M:%S",
                            null_value="")
        else:
            frame.write_parquet(path, compression="zstd", statistics=True)
        counts[name] = frame.height
        del frame
    return counts


def tables(customers: int = 2000, seed: int = 7, defects: float = 0.03) -> Iterator[tuple[str, pl.DataFrame]]:
    """Every table, (name, frame), in the order of TABLES, with the arguments of `generate`.

    Each table is built only when the one before has been consumed: at benchmark sizes
    holding all of them at once would multiply the peak memory."""
    if isinstance(customers, bool) or not isinstance(customers, int) or customers < 1:
        raise ValueError(f"customers must be a positive integer, not {customers!r}")
    if not 0.0 <= defects <= 1.0:
        raise ValueError(f"defects must be a share between 0 and 1, not {defects!r}")
    for name, frame in _tables(customers, seed, defects):
        yield name, frame.select(TABLES[name])


# --------------------------------------------------------------------------- helpers


def _rng(seed: int, stream: int) -> np.random.Generator:
    # One independent stream per table, so changing one table never reshuffles another.
    return np.random.default_rng([seed, stream])


def _arr(values: tuple[float, ...]) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


def _pick(rng: np.random.Generator, n: int, weights: tuple[float, ...] | np.ndarray) -> np.ndarray:
    p = np.asarray(weights, dtype=np.float64)
    cum = np.cumsum(p / p.sum())
    # searchsorted on the cumulative share is rng.choice without its per-call overhead;
    # the clip guards against cum[-1] rounding to just below 1.
    codes = np.searchsorted(cum, rng.random(n), side="right")
    return np.minimum(codes, len(p) - 1).astype(np.int32)


def _labels(labels: tuple[str, ...], codes: np.ndarray) -> pl.Series:
    # Gathering from a tiny Series is far cheaper than building Python strings per row.
    return pl.Series(labels, dtype=pl.String).gather(codes)


def _ids(prefix: str, numbers: np.ndarray | pl.Series, width: int) -> pl.Series:
    digits = pl.Series(numbers).cast(pl.String).str.zfill(width)
    return (prefix + digits) if len(digits) else digits


def _time_order(rng: np.random.Generator, when: np.ndarray) -> np.ndarray:
    """Row order by time, ties broken at random (so ids do not follow generation order).

    One packed int64 key and a stable arg-sort: sorting numbers before any string column
    exists is what keeps 100M-row tables cheap, and stability keeps the order reproducible.
    """
    if len(when) == 0:
        return np.zeros(0, dtype=np.int64)
    span = when.astype(np.int64) - int(when.min())  # < 2^31 for any realistic span
    key = (span << 32) | rng.integers(0, 1 << 32, len(when), dtype=np.int64)
    perm = pl.DataFrame({"k": key}).select(pl.arg_sort_by("k", maintain_order=True))
    return perm.to_series().to_numpy()


def _width(count: int) -> int:
    return max(6, len(str(count)))


def _dates(days: np.ndarray, mask_null: np.ndarray | None = None) -> pl.Series:
    s = pl.Series(days.astype(np.int32)).cast(pl.Date)
    return _nullify(s, mask_null)


def _datetimes(seconds: np.ndarray, mask_null: np.ndarray | None = None) -> pl.Series:
    s = pl.Series(seconds.astype(np.int64) * 1_000_000).cast(pl.Datetime("us"))
    return _nullify(s, mask_null)


def _nullify(s: pl.Series, mask_null: np.ndarray | None) -> pl.Series:
    if mask_null is None or not mask_null.any():
        return s
    return s.scatter(np.flatnonzero(mask_null), None)


def _ints(values: np.ndarray, mask_null: np.ndarray | None = None) -> pl.Series:
    return _nullify(pl.Series(values.astype(np.int64)), mask_null)


def _day_weights() -> np.ndarray:
    days = np.arange(_GRID_START, _EXPORT)
    d64 = days.astype("datetime64[D]")
    month = d64.astype("datetime64[M]").astype(np.int64) % 12
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday
    years = (days - _GRID_START) / 365.25
    return (_arr(_MONTH_WEIGHT)[month] * _arr(_WEEKDAY_WEIGHT)[weekday]
            * (1.0 + _GROWTH_PER_YEAR * years))


def _cum_weights() -> np.ndarray:
    """Cumulative demand from _GRID_START; entry i is the demand of the days before i."""
    return np.concatenate([[0.0], np.cumsum(_day_weights())])


def _seasonal_days(rng: np.random.Generator, cum: np.ndarray, lo: np.ndarray,
                   hi: np.ndarray) -> np.ndarray:
    """One day per row in [lo, hi) (absolute day numbers), following the demand curve.

    Inverse-CDF sampling inside each row's own window keeps seasonality even when every
    row has a different window, without rejection loops."""
    a = np.clip(lo - _GRID_START, 0, len(cum) - 1)
    b = np.clip(hi - _GRID_START, 0, len(cum) - 1)
    u = cum[a] + rng.random(len(a)) * (cum[b] - cum[a])
    idx = np.searchsorted(cum, u, side="right") - 1
    return np.clip(idx, a, np.maximum(b - 1, a)) + _GRID_START


def _exposure(cum: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    a = np.clip(lo - _GRID_START, 0, len(cum) - 1)
    b = np.clip(hi - _GRID_START, 0, len(cum) - 1)
    return np.maximum(cum[b] - cum[a], 0.0)


def _poisson_counts(rng: np.random.Generator, raw: np.ndarray, total: float) -> np.ndarray:
    # Normalising to a target total keeps "about N per customer" true whatever the churn.
    s = raw.sum()
    lam = raw * (total / s) if s > 0 else raw
    return rng.poisson(lam).astype(np.int64)


def _clock(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds into the day: weighted hour, uniform minute, whole minutes."""
    return _pick(rng, n, _HOUR_WEIGHT).astype(np.int64) * 3600 + rng.integers(0, 60, n) * 60


def _minutes(hours: np.ndarray) -> np.ndarray:
    # Durations round up to whole minutes and at least one, so "after" stays strict.
    return np.maximum(np.ceil(hours * 60.0), 1.0).astype(np.int64) * 60


def _month_labels(first: tuple[int, int], count: int) -> list[str]:
    y, m = first
    out = []
    for i in range(count):  # a handful of months, not rows
        yy, mm = divmod((m - 1) + i, 12)
        out.append(f"{y + yy:04d}-{mm + 1:02d}")
    return out


def _month_index(days: np.ndarray) -> np.ndarray:
    """Months since 1970-01 of each absolute day number."""
    return days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)


# --------------------------------------------------------------------------- build


@dataclass(frozen=True)
class _Book:
    """Per-customer arrays (row i = customer number i + 1) that the activity tables need."""

    n: int
    width: int           # digits of the zero-padded customer id
    created: np.ndarray  # day number of creation
    end: np.ndarray      # exclusive end of activity: churn day, export day, or created (stale)
    owner: np.ndarray
    segment: np.ndarray
    vendor: np.ndarray
    health: np.ndarray   # latent satisfaction; drives churn, complaints, NPS
    churns: np.ndarray   # churned before the export


_COST_MONTHS: Final = 24  # 2024-01 .. 2025-12


def _per_month(days: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    month = _month_index(days) - _month_index(np.array([_LEADS_START]))[0]
    keep = (month >= 0) & (month < _COST_MONTHS)
    w = None if weights is None else weights[keep]
    return np.bincount(month[keep], weights=w, minlength=_COST_MONTHS).astype(np.float64)


def _tables(n_customers: int, seed: int, defects: float) -> Iterator[tuple[str, pl.DataFrame]]:
    cum = _cum_weights()
    perf = _arr(_OWNER_PERF)
    book, customers, leads = _customers_and_leads(n_customers, seed, defects, cum, perf)
    yield "customers", customers
    del customers
    leads_per_month = _per_month(leads["created_at"].cast(pl.Int32).to_numpy())
    yield "leads", leads
    del leads
    orders = _orders(book, seed, cum)
    revenue_per_month = _per_month(orders["ordered_at"].cast(pl.Int32).to_numpy(),
                                   orders["amount"].to_numpy())
    yield "orders", orders
    del orders
    yield "interactions", _interactions(book, seed, defects, cum, perf)
    yield "surveys", _surveys(book, seed, cum)
    yield "costs", _costs(n_customers, seed, leads_per_month, revenue_per_month)
    yield "vendors", pl.DataFrame({"vendor_id": list(_VENDORS), "name": list(_VENDOR_NAMES),
                                   "category": list(_VENDOR_CATEGORY)})
    yield "vendor_tickets", _vendor_tickets(n_customers, seed)
    yield "vendor_uptime", _vendor_uptime(seed)
    yield "vendor_reviews", _vendor_reviews(n_customers, seed)
    yield "process_steps", _process_steps(n_customers, seed, defects, perf)


def _customers_and_leads(n: int, seed: int, defects: float, cum: np.ndarray,
                         perf: np.ndarray) -> tuple[_Book, pl.DataFrame, pl.DataFrame]:
    rng = _rng(seed, 1)
    n_owners = len(_OWNERS)
    n_stale = int(round(n * defects / 2))
    n_2023 = min(int(round(n * _SHARE_CREATED_2023)), n - n_stale)
    n_conv = n - n_stale - n_2023
    n_leads = _LEADS_PER_CUSTOMER * n
    n_open = max(n_leads - n_conv, 0)

    # Conversion per (channel, owner) cell, rescaled so the converted count is exactly
    # the customers created from leads; converted and open leads are then drawn from the
    # cell shares conditional on their outcome, which reproduces those rates.
    share = np.outer(_arr(_ACQ_LEAD_SHARE), np.full(n_owners, 1.0 / n_owners))
    share /= share.sum()
    rel = np.outer(_arr(_ACQ_CONVERSION), 1.0 + 0.5 * perf)
    target = n_conv / n_leads if n_leads else 0.0
    rate = np.clip(rel * (target / max((share * rel).sum(), 1e-12)), 0.0, 0.95)
    # The 1e-300 keeps the weights summable when a tiny table has nothing to convert.
    conv_cell = _pick(rng, n_conv, (share * rate).ravel() + 1e-300)
    open_cell = _pick(rng, n_open, (share * (1.0 - rate)).ravel() + 1e-300)

    lag = np.clip(np.round(rng.lognormal(np.log(12.0), 0.8, n_conv)), 1, 120).astype(np.int64)
    conv_created = _seasonal_days(rng, cum, np.full(n_conv, _LEADS_START), _EXPORT - lag)
    conv_at = conv_created + lag
    open_created = _seasonal_days(rng, cum, np.full(n_open, _LEADS_START),
                                  np.full(n_open, _EXPORT))

    # Customers: lead conversions, the 2023 cohort (before the CRM kept leads), stale.
    c23_channel = _pick(rng, n_2023, _arr(_ACQ_LEAD_SHARE) * _arr(_ACQ_CONVERSION))
    c23_created = _seasonal_days(rng, cum, np.full(n_2023, _GRID_START),
                                 np.full(n_2023, _LEADS_START))
    stale_created = rng.integers(_STALE_FROM, _STALE_TO, n_stale)
    created = np.concatenate([conv_at, c23_created, stale_created])
    channel = np.concatenate([conv_cell // n_owners, c23_channel,
                              rng.integers(0, len(_ACQ_CHANNELS), n_stale)]).astype(np.int32)
    owner = np.concatenate([conv_cell % n_owners,
                            rng.integers(0, n_owners, n_2023 + n_stale)]).astype(np.int32)
    stale = np.zeros(n, dtype=bool)
    stale[n - n_stale:] = True

    order = _time_order(rng, created)  # ids follow creation order
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    created, channel, owner, stale = created[order], channel[order], owner[order], stale[order]
    number = np.arange(1, n + 1, dtype=np.int64)

    region = _pick(rng, n, _REGION_SHARE)
    segment = _pick(rng, n, _SEGMENT_SHARE)
    vendor = _pick(rng, n, _VENDOR_SHARE)
    health = (_arr(_VENDOR_HEALTH)[vendor] + 0.4 * perf[owner] + _arr(_SEGMENT_HEALTH)[segment]
              + rng.normal(0.0, 0.6, n))

    # Constant hazard, tilted by health; normalised so the average annual churn holds.
    tilt = np.exp(-0.9 * health)
    hazard = -np.log(1.0 - _ANNUAL_CHURN) / 365.25 * tilt / tilt.mean()
    life = np.maximum(np.ceil(rng.exponential(1.0, n) / hazard), 1).astype(np.int64)
    churn = created + life
    # Stale records are the untouched leftovers of an old import: never churned, no activity.
    no_churn = (churn >= _EXPORT) | stale
    end = np.where(no_churn, _EXPORT, churn)
    end = np.where(stale, created, end)  # an empty window means no activity at all

    names, emails, phones = _identities(rng, n, defects)
    # Duplicates re-register an existing person under a new id; sources are never
    # duplicates themselves, so every copy really matches a surviving record.
    n_dup = min(int(round(n * defects / 2)), max((~stale).sum() - 1, 0))
    if n_dup:
        candidates = np.flatnonzero(~stale)
        pos = rng.permutation(len(candidates))
        dup_rows = candidates[pos[:n_dup]]
        pool = candidates[pos[n_dup:]]
        src = pool[rng.integers(0, len(pool), n_dup)]
        names = names.scatter(dup_rows, names.gather(src))
        emails = emails.scatter(dup_rows, emails.gather(src))
        phones = phones.scatter(dup_rows, phones.gather(src))

    cust_width = _width(n)
    frame = pl.DataFrame({
        "customer_id": _ids("C", number, cust_width),
        "name": names,
        "email": emails,
        "phone": phones,
        "region": _labels(_REGIONS, region),
        "segment": _labels(_SEGMENTS, segment),
        "channel": _labels(_ACQ_CHANNELS, channel),
        "owner": _labels(_OWNERS, owner),
        "crm_vendor_id": _labels(_VENDORS, vendor),
        "created_at": _dates(created),
        "churned_at": _dates(churn, no_churn),
    })

    # Converted leads were the first rows before the customer sort, hence rank[:n_conv].
    lead_created = np.concatenate([conv_created, open_created])
    lead_cell = np.concatenate([conv_cell, open_cell])
    lead_conv = np.concatenate([conv_at, np.zeros(n_open, dtype=np.int64)])
    lead_cust = np.concatenate([rank[:n_conv] + 1, np.zeros(n_open, dtype=np.int64)])
    is_open = np.arange(n_conv + n_open) >= n_conv
    perm = _time_order(rng, lead_created)
    lead_created, lead_cell = lead_created[perm], lead_cell[perm]
    lead_conv, lead_cust, is_open = lead_conv[perm], lead_cust[perm], is_open[perm]
    leads = pl.DataFrame({
        "lead_id": _ids("L", np.arange(1, len(perm) + 1), _width(len(perm))),
        "created_at": _dates(lead_created),
        "channel": _labels(_ACQ_CHANNELS, lead_cell // n_owners),
        "owner": _labels(_OWNERS, lead_cell % n_owners),
        "converted_at": _dates(lead_conv, is_open),
        "customer_id": _nullify(_ids("C", lead_cust, cust_width), is_open),
    })
    book = _Book(n=n, width=cust_width, created=created, end=end, owner=owner,
                 segment=segment, vendor=vendor, health=health, churns=~no_churn)
    return book, frame, leads


def _identities(rng: np.random.Generator, n: int, defects: float
                ) -> tuple[pl.Series, pl.Series, pl.Series]:
    sur = rng.integers(0, len(_SURNAMES), n)
    giv = rng.integers(0, len(_GIVEN), n)
    seq = np.arange(n, dtype=np.int64)
    # Affine maps with a multiplier coprime to 10 are bijections mod 10^k: every customer
    # gets a distinct email number and phone tail, so defects=0 really has no duplicates.
    mod = 10 ** max(4, len(str(n)))
    email_no = (seq * 7919 + 1234) % mod
    tail = (seq * 387_420_489 + 604_218_337) % 1_000_000_000
    frame = pl.DataFrame({
        "sur_cn": _labels(tuple(s[0] for s in _SURNAMES), sur),
        "sur_py": _labels(tuple(s[1] for s in _SURNAMES), sur),
        "giv_cn": _labels(tuple(g[0] for g in _GIVEN), giv),
        "giv_py": _labels(tuple(g[1] for g in _GIVEN), giv),
        "email_no": email_no,
        "domain": _labels(_EMAIL_DOMAINS, _pick(rng, n, (0.4, 0.3, 0.15, 0.15))),
        "second": rng.integers(3, 10, n),
        "tail": tail,
        "plus86": rng.random(n) < 0.15,
        "email_bad": np.where(rng.random(n) < defects, rng.integers(1, 4, n), 0),
        "phone_bad": np.where(rng.random(n) < defects, rng.integers(1, 4, n), 0),
    })
    local = pl.col("giv_py") + "." + pl.col("sur_py") + pl.col("email_no").cast(pl.String)
    digits = ("1" + pl.col("second").cast(pl.String)
              + pl.col("tail").cast(pl.String).str.zfill(9))
    bad_e, bad_p = pl.col("email_bad"), pl.col("phone_bad")
    out = frame.select(
        name=pl.col("sur_cn") + pl.col("giv_cn"),
        email=pl.when(bad_e == 1).then(None)
        .when(bad_e == 2).then(local + "@")
        .when(bad_e == 3).then(local + "." + pl.col("domain"))
        .otherwise(local + "@" + pl.col("domain")),
        phone=pl.when(bad_p == 1).then(None)
        .when(bad_p == 2).then(digits.str.slice(0, 7))
        .when(bad_p == 3).then(digits.str.slice(0, 3) + "abcd" + digits.str.slice(7, 4))
        .when(pl.col("plus86")).then("+86" + digits)
        .otherwise(digits),
    )
    return out["name"], out["email"], out["phone"]


def _orders(book: _Book, seed: int, cum: np.ndarray) -> pl.DataFrame:
    rng = _rng(seed, 2)
    created, end, segment, health = book.created, book.end, book.segment, book.health
    raw = (_exposure(cum, created, end) * _arr(_SEGMENT_ORDER_RATE)[segment]
           * np.exp(0.2 * health))
    counts = _poisson_counts(rng, raw, _ORDERS_PER_CUSTOMER * book.n)
    row = np.repeat(np.arange(book.n), counts)
    day = _seasonal_days(rng, cum, created[row], end[row])
    mu = np.log(_arr(_SEGMENT_AMOUNT_MEDIAN))[segment[row]] + 0.1 * health[row]
    amount = np.round(rng.lognormal(mu, 0.7), 2)
    product = _pick(rng, len(row), _PRODUCT_SHARE)
    perm = _time_order(rng, day)
    return pl.DataFrame({
        "order_id": _ids("O", np.arange(1, len(perm) + 1), _width(len(perm))),
        "customer_id": _ids("C", row[perm] + 1, book.width),
        "ordered_at": _dates(day[perm]),
        "amount": amount[perm],
        "product_line": _labels(_PRODUCT_LINES, product[perm]),
    })


def _interactions(book: _Book, seed: int, defects: float, cum: np.ndarray,
                  perf: np.ndarray) -> pl.DataFrame:
    # The largest table (8 rows per customer): temporaries are dropped as soon as they
    # are used so benchmark sizes peak at roughly one numpy copy plus the frame.
    rng = _rng(seed, 3)
    n = book.n
    # Unhappy customers get in touch more often.
    raw = _exposure(cum, book.created, book.end) * np.exp(-0.3 * book.health)
    counts = _poisson_counts(rng, raw, _INTERACTIONS_PER_CUSTOMER * n)
    row = np.repeat(np.arange(n, dtype=np.int32), counts)
    del raw, counts
    m = len(row)

    channel = _pick(rng, m, _INT_CHANNEL_SHARE)
    tilt = np.exp(-0.6 * book.health[row]) * np.where(book.churns[row], 1.5, 1.0)
    p_complaint = np.clip(_COMPLAINT_SHARE * tilt / (tilt.mean() if m else 1.0), 0.0, 0.7)
    del tilt
    kind = np.where(rng.random(m) < p_complaint, 1, _pick(rng, m, _NON_COMPLAINT_SHARE))
    del p_complaint
    owner = np.where(rng.random(m) < 0.7, book.owner[row],
                     rng.integers(0, len(_OWNERS), m)).astype(np.int32)
    speed = np.exp(-0.5 * perf[owner])  # skilled owners answer and resolve faster

    opened = (_seasonal_days(rng, cum, book.created[row], book.end[row]) * _DAY_S
              + _clock(rng, m))
    first = opened + _minutes(_arr(_INT_RESPONSE_MEDIAN_H)[channel] * speed
                              * rng.lognormal(0.0, 0.9, m))
    res_h = _arr(_KIND_RESOLVE_MEDIAN_H)[kind] * speed * rng.lognormal(0.0, 1.0, m)
    del speed
    resolved = first + _minutes(res_h)
    no_first = first >= _EXPORT_S
    abandoned = rng.random(m) < _UNRESOLVED_SHARE * np.exp(-0.8 * perf[owner])
    unresolved = no_first | abandoned | (resolved >= _EXPORT_S)
    del abandoned

    sat = (4.1 + 0.5 * book.health[row] - 0.9 * (kind == 1) - 0.25 * np.log1p(res_h / 24.0)
           + 0.3 * perf[owner] + rng.normal(0.0, 0.7, m))
    del res_h
    sat = np.clip(np.round(sat), 1, 5).astype(np.int8)
    sat_null = unresolved | (rng.random(m) < defects)

    cust_num = row.astype(np.int64) + 1
    del row
    orphan = rng.random(m) < defects / 2
    # Orphans point at ids past the end of the customer table, as if deleted there.
    cust_num = np.where(orphan, n + 1 + rng.integers(0, max(n, 1), m), cust_num)
    del orphan

    perm = _time_order(rng, opened)
    cols = {"interaction_id": _ids("I", np.arange(1, m + 1), _width(m)),
            "customer_id": _ids("C", cust_num[perm], book.width)}
    del cust_num
    cols["channel"] = _labels(_INT_CHANNELS, channel[perm])
    cols["kind"] = _labels(_KINDS, kind[perm])
    cols["owner"] = _labels(_OWNERS, owner[perm])
    del channel, kind, owner
    cols["opened_at"] = _datetimes(opened[perm])
    del opened
    cols["first_response_at"] = _datetimes(first[perm], no_first[perm])
    del first, no_first
    cols["resolved_at"] = _datetimes(resolved[perm], unresolved[perm])
    del resolved, unresolved
    cols["satisfaction"] = _ints(sat[perm], sat_null[perm])
    return pl.DataFrame(cols)


def _surveys(book: _Book, seed: int, cum: np.ndarray) -> pl.DataFrame:
    rng = _rng(seed, 4)
    n = book.n
    created, end, health = book.created, book.end, book.health
    counts = _poisson_counts(rng, _exposure(cum, created, end), _SURVEYS_PER_CUSTOMER * n)
    row = np.repeat(np.arange(n), counts)
    m = len(row)
    day = _seasonal_days(rng, cum, created[row], end[row])
    centred = health[row] - (health.mean() if n else 0.0)
    latent = 8.3 + 0.9 * centred + rng.normal(0.0, 1.4, m)
    nps = np.clip(np.round(latent), 0, 10)
    csat = np.clip(np.round(3.95 + 0.45 * (latent - 8.3) + rng.normal(0.0, 0.6, m)), 1, 5)
    skipped = rng.random(m) < _CSAT_SKIPPED
    perm = _time_order(rng, day)
    return pl.DataFrame({
        "survey_id": _ids("S", np.arange(1, m + 1), _width(m)),
        "customer_id": _ids("C", row[perm] + 1, book.width),
        "answered_at": _dates(day[perm]),
        "nps": _ints(nps[perm]),
        "csat": _ints(csat[perm], skipped[perm]),
    })


def _costs(n: int, seed: int, n_leads: np.ndarray, revenue: np.ndarray) -> pl.DataFrame:
    rng = _rng(seed, 5)
    months = _COST_MONTHS
    # Marketing buys leads; sales is a team payroll sized to the book plus commission.
    marketing = n_leads * 60.0 * rng.lognormal(0.0, 0.08, months)
    payroll = len(_OWNERS) * 5500.0 * (n / 2000.0)
    sales = payroll * rng.lognormal(0.0, 0.03, months) + 0.06 * revenue
    return pl.DataFrame({
        "month": _month_labels((2024, 1), months),
        "marketing_cost": np.round(marketing, 2),
        "sales_cost": np.round(sales, 2),
    })


def _vendor_tickets(n: int, seed: int) -> pl.DataFrame:
    rng = _rng(seed, 6)
    m = max(10, int(round(_TICKETS_PER_CUSTOMER * n)))
    vendor = _pick(rng, m, _arr(_VENDOR_SHARE) * _arr(_VENDOR_TICKET_RATE))
    severity = _pick(rng, m, (0.05, 0.15, 0.40, 0.40)) + 1
    sla = np.array([0, 4, 8, 24, 72], dtype=np.int64)[severity]
    slow = _arr(_VENDOR_SLOWNESS)[vendor]
    opened = (rng.integers(_LEADS_START, _EXPORT, m) * _DAY_S + _clock(rng, m))
    first = opened + _minutes(sla * 0.15 * slow * rng.lognormal(0.0, 0.7, m))
    resolved = first + _minutes(sla * 0.45 * slow * rng.lognormal(0.0, 0.8, m))
    o = _time_order(rng, opened)
    return pl.DataFrame({
        "ticket_id": _ids("T", np.arange(1, m + 1), _width(m)),
        "vendor_id": _labels(_VENDORS, vendor[o]),
        "severity": _ints(severity[o]),
        "opened_at": _datetimes(opened[o]),
        "first_response_at": _datetimes(first[o], first[o] >= _EXPORT_S),
        "resolved_at": _datetimes(resolved[o], resolved[o] >= _EXPORT_S),
        "sla_hours": _ints(sla[o]),
    })


def _vendor_uptime(seed: int) -> pl.DataFrame:
    rng = _rng(seed, 7)
    months = _month_labels((2024, 1), 24)
    v = np.repeat(np.arange(len(_VENDORS)), len(months))
    downtime = _arr(_VENDOR_DOWNTIME_PCT)[v] * rng.lognormal(0.0, 0.5, len(v))
    uptime = np.clip(np.round(100.0 - downtime, 2), 99.0, 99.99)
    incidents = rng.poisson(0.3 + 8.0 * downtime)
    return pl.DataFrame({
        "vendor_id": _labels(_VENDORS, v),
        "month": months * len(_VENDORS),
        "uptime_pct": uptime,
        "incidents": incidents.astype(np.int64),
    })


def _vendor_reviews(n: int, seed: int) -> pl.DataFrame:
    rng = _rng(seed, 8)
    m = max(10, int(round(_REVIEWS_PER_CUSTOMER * n)))
    vendor = rng.integers(0, len(_VENDORS), m)
    day = rng.integers(_LEADS_START, _EXPORT, m)
    sat = np.clip(np.round(rng.normal(_arr(_VENDOR_REVIEW_MEAN)[vendor], 0.8)), 1, 5)
    training = np.round(rng.lognormal(np.log(_arr(_VENDOR_TRAINING_MEDIAN)[vendor]), 0.5), 1)
    o = _time_order(rng, day)
    return pl.DataFrame({
        "review_id": _ids("R", np.arange(1, m + 1), _width(m)),
        "vendor_id": _labels(_VENDORS, vendor[o]),
        "reviewed_at": _dates(day[o]),
        "satisfaction": _ints(sat[o]),
        "training_hours": training[o],
    })


def _process_steps(n: int, seed: int, defects: float, perf: np.ndarray) -> pl.DataFrame:
    rng = _rng(seed, 9)
    n_cases = max(1, int(round(_CASES_PER_CUSTOMER * n)))
    n_owners = len(_OWNERS)
    process = _pick(rng, n_cases, _PROCESS_SHARE)
    with_optional = rng.random(n_cases) < _arr(_PROCESS_OPTIONAL_SHARE)[process]

    # Step-name lookup per (process, optional included): row = process * 2 + included.
    names = sorted({s for steps in _PROCESS_STEPS for s in steps})
    code = {s: i for i, s in enumerate(names)}
    width = max(len(s) for s in _PROCESS_STEPS)
    table = np.zeros((len(_PROCESSES) * 2, width), dtype=np.int32)
    lengths = np.zeros(len(_PROCESSES) * 2, dtype=np.int64)
    for p, steps in enumerate(_PROCESS_STEPS):  # 3 processes, not rows
        for included in (0, 1):
            seq = [s for i, s in enumerate(steps) if included or i != _PROCESS_OPTIONAL[p]]
            table[p * 2 + included, :len(seq)] = [code[s] for s in seq]
            lengths[p * 2 + included] = len(seq)
    variant = process * 2 + with_optional
    base_len = lengths[variant]

    case_owner = rng.integers(0, n_owners, n_cases)
    tilt = np.exp(-0.7 * perf[case_owner])
    p_rework = min(0.9, _REWORK_PER_DEFECT * defects) * tilt / np.exp(-0.7 * perf).mean()
    rework = rng.random(n_cases) < np.clip(p_rework, 0.0, 0.95)
    # The redone step is a middle one: first and last steps are hand-offs, not work.
    k = 1 + (rng.random(n_cases) * (base_len - 2)).astype(np.int64)
    length = base_len + rework

    case = np.repeat(np.arange(n_cases), length)
    starts = np.concatenate([[0], np.cumsum(length)[:-1]])
    pos = np.arange(len(case)) - starts[case]
    src = pos - (rework[case] & (pos > k[case]))
    step = table[variant[case], src]

    rows = len(case)
    actor = np.where(rng.random(rows) < 0.8, case_owner[case],
                     rng.integers(0, n_owners, rows)).astype(np.int32)
    dur = _minutes(np.minimum(_arr(_PROCESS_STEP_MEDIAN_H)[process[case]]
                              * np.exp(-0.4 * perf[actor]) * rng.lognormal(0.0, 0.8, rows),
                              _STEP_CAP_H))
    gap = _minutes(np.minimum(3.0 * rng.lognormal(0.0, 1.0, rows), _GAP_CAP_H))
    gap[starts] = 0
    total = gap + dur
    cs = np.cumsum(total)
    case_start = rng.integers(_LEADS_START, _CASES_TO, n_cases) * _DAY_S + _clock(rng, n_cases)
    begin_case = cs[starts] - total[starts]
    started = case_start[case] + (cs - dur) - begin_case[case]
    ended = started + dur

    # Case ids follow case start; rows keep their step order inside a case.
    by_start = _time_order(rng, case_start)
    case_rank = np.empty(n_cases, dtype=np.int64)
    case_rank[by_start] = np.arange(n_cases)
    # Move each case's block of rows as a whole: new offset plus old start, no row sort.
    new_starts = np.concatenate([[0], np.cumsum(length[by_start])[:-1]])
    o = np.repeat(starts[by_start] - new_starts, length[by_start]) + np.arange(rows)
    return pl.DataFrame({
        "case_id": _ids("P", case_rank[case[o]] + 1, _width(n_cases)),
        "process": _labels(_PROCESSES, process[case[o]]),
        "step": _labels(tuple(names), step[o]),
        "actor": _labels(_OWNERS, actor[o]),
        "started_at": _datetimes(started[o]),
        "ended_at": _datetimes(ended[o]),
    })
