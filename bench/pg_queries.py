#!/usr/bin/env python3
"""By hand (bench/README.md, issue 14): the queries assess sends to PostgreSQL.

Starts a PostgreSQL server of its own in a temp folder (as tests/engines.py does: needs
initdb, and runuser when run as root), loads the sample CRM with `assess sample-data
--out URL`, runs each ruleset with `--data URL` and prints the result's `queries`.

    .venv/bin/python bench/pg_queries.py [--customers 200000]
"""
import argparse
import json
import pathlib
import subprocess
import sys
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "tests"), str(REPO)]
from engines import start_postgres, stop_postgres  # noqa: E402

RULESETS = ("rulesets/crm_assessment.yaml", "bench/dq_rules.yaml", "rulesets/customer_health.yaml")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--assess", default=str(REPO / ".venv" / "bin" / "assess"))
    args = parser.parse_args()
    server = start_postgres()
    try:
        db = server.create("bench")
        t = time.perf_counter()
        subprocess.run([args.assess, "sample-data", "--out", db.url, "--customers", str(args.customers)],
                       check=True, capture_output=True)
        print(f"loaded the sample in {time.perf_counter() - t:.1f} s", flush=True)
        for ruleset in RULESETS:
            t = time.perf_counter()
            out = subprocess.run([args.assess, "run", str(REPO / ruleset), "--data", db.url, "--format", "json"],
                                 capture_output=True, text=True)
            r = json.loads(out.stdout)
            print(f"{ruleset}: {r['queries']} queries on {r['engine']}; {len(r['sources'])} sources, "
                  f"{len(r['checks'])} checks ({sum(c['status'] != 'pass' for c in r['checks'])} not passing), "
                  f"{len(r.get('entities') or [])} entities shown; {time.perf_counter() - t:.1f} s wall", flush=True)
    finally:
        stop_postgres(server)


if __name__ == "__main__":
    main()
