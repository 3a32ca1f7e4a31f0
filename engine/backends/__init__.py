"""Lowerings of a compiled plan to engines other than Polars (DuckDB, PostgreSQL, Spark).

The default engine lowers the plan in ``engine.compile`` and runs it in ``engine.execute``;
the modules here read the same ruleset model (sources, measures and checks as parsed
expression trees, the period variants) and send one aggregate query per source to the
engine where the data lives. Only small results come back, as Polars frames, so scoring,
ranking and rendering are the same whatever the engine.
"""
