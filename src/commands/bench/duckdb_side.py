"""The DuckDB side of `faasobs bench`: the same work as faasobs, timed the same way.

Run by the harness with the Python that has the `duckdb` package; reads one JSON job from the
file named on the command line and prints one JSON answer on standard output.

Jobs:
  {"mode": "version"}
  {"mode": "queries", "threads": N, "data": DIR, "invocations": INVOCATIONS,
   "queries": [[name, sql], ...], "repeat": 3}
      -> for each query: first run and best of `repeat` runs after it in one connection (the
         first run when `repeat` is 0), row count
  {"mode": "fresh", "threads": N, "data": DIR, "invocations": INVOCATIONS, "sql": SQL}
      -> one query in this fresh process: seconds from connect to the fetched result
  where INVOCATIONS is {"view": SQL, "schema": NAME, "file_tables": [[TABLE, [FILE, ...]], ...],
                        "shared_ids_table": TABLE, "shared_request_ids": [...]}: faasobs'
  `invocations` view in portable SQL and the tables it reads, in their schema
  {"mode": "copy_json", "threads": N, "input": FILE, "output": FILE}
      -> NDJSON to ZSTD Parquet with COPY ... read_json
  {"mode": "rewrite", "threads": N, "data": DIR, "tables": [...], "out": DIR}
      -> each table's Parquet rows rewritten by DuckDB with ZSTD: bytes and rows
"""

import json
import os
import sys
import time

import duckdb


def connect(job):
    # The same threads as faasobs. DuckDB keeps its default memory limit (most of the machine):
    # with `memory_limit` at faasobs' 8 GiB, DuckDB 1.4.2 crashed (segfault) in the query set.
    con = duckdb.connect()
    con.execute(f"SET threads = {int(job['threads'])}")
    # Spill into the folder the harness gives (in the bench folder, deleted after each job), not
    # `.tmp` in whatever folder the harness was started from: at 100M invocations that was the
    # repository.
    con.execute("SET temp_directory = ?", [job["spill_dir"]])
    return con


def sql_text(value):
    return "'" + value.replace("'", "''") + "'"


# Columns of invocation files that schema versions after 2 added, with their types: a data set
# written by an earlier build lacks them, and faasobs reads them as null (docs/schema.md). A data
# set is written by one build, so its files are read as one schema (`union_by_name` would have
# DuckDB read every file's footer to plan each query).
ADDED_INVOCATION_COLUMNS = {"cold_start_inferred": "BOOLEAN"}


def invocation_view(con, name, source):
    """A view `name` of invocation rows read by `source`, with the columns added since schema
    version 2 as null when its files lack them."""
    con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM {source}")
    present = {row[0] for row in con.execute(f"DESCRIBE {name}").fetchall()}
    added = "".join(
        f", NULL::{kind} AS {column}"
        for column, kind in ADDED_INVOCATION_COLUMNS.items()
        if column not in present
    )
    if added:
        con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT *{added} FROM {source}")


def register_tables(con, job):
    # The same files faasobs reads: every hourly Parquet file of each table.
    data = job["data"]
    def files(folder):
        glob = os.path.join(data, folder, "**", "*.parquet")
        return f"read_parquet({sql_text(glob)}, hive_partitioning = false)"

    invocation_view(con, "invocation_fragments", files("invocations"))
    con.execute(f"CREATE OR REPLACE VIEW resources AS SELECT * FROM {files('resources')}")
    # Spans and logs keep their resource's attributes once, in `resources`: joined back as
    # faasobs' own `spans` and `logs` views do (one row per resource id).
    for table in ("spans", "logs"):
        con.execute(
            f"CREATE OR REPLACE VIEW {table} AS "
            f"SELECT s.*, r.attributes AS resource_attributes FROM {files(table)} s "
            "LEFT JOIN (SELECT resource_id, any_value(attributes) AS attributes "
            "FROM resources GROUP BY resource_id) r ON s.resource_id = r.resource_id"
        )
    # `invocations` is faasobs' own view, which DuckDB runs unchanged over the same split of the
    # invocation files: rows of hour-merged files pass through unless their request id is shared
    # or also a fragment's, and the rest are merged by request id.
    invocations = job["invocations"]
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {invocations['schema']}")
    for table, files in invocations["file_tables"]:
        if files:
            listed = ", ".join(sql_text(f) for f in files)
            invocation_view(
                con,
                table,
                f"read_parquet([{listed}], hive_partitioning = false)",
            )
    con.execute(
        f"CREATE OR REPLACE TABLE {invocations['shared_ids_table']} AS "
        "SELECT unnest(?::VARCHAR[]) AS request_id",
        [invocations["shared_request_ids"]],
    )
    con.execute(f"CREATE OR REPLACE VIEW invocations AS {invocations['view']}")


def timed(con, sql):
    start = time.perf_counter()
    rows = con.execute(sql).fetchall()
    return time.perf_counter() - start, len(rows)


def run(job):
    mode = job["mode"]
    if mode == "version":
        return {"duckdb": duckdb.__version__, "python": sys.version.split()[0]}
    if mode == "queries":
        con = connect(job)
        register_tables(con, job)
        out = []
        for name, sql in job["queries"]:
            first, rows = timed(con, sql)
            runs = [timed(con, sql)[0] for _ in range(job["repeat"])]
            best = min(runs) if runs else first
            out.append({"name": name, "first_s": first, "best_s": best, "rows": rows})
        return out
    if mode == "fresh":
        start = time.perf_counter()
        con = connect(job)
        register_tables(con, job)
        rows = con.execute(job["sql"]).fetchall()
        return {"seconds": time.perf_counter() - start, "rows": len(rows)}
    if mode == "copy_json":
        con = connect(job)
        start = time.perf_counter()
        con.execute(
            f"COPY (SELECT * FROM read_json('{job['input']}', format = 'newline_delimited')) "
            f"TO '{job['output']}' (FORMAT parquet, COMPRESSION zstd)"
        )
        seconds = time.perf_counter() - start
        rows = con.execute(f"SELECT count(*) FROM read_parquet('{job['output']}')").fetchone()[0]
        return {"seconds": seconds, "rows": rows, "bytes": os.path.getsize(job["output"])}
    if mode == "rewrite":
        con = connect(job)
        os.makedirs(job["out"], exist_ok=True)
        out = {}
        for table in job["tables"]:
            glob = os.path.join(job["data"], table, "**", "*.parquet")
            target = os.path.join(job["out"], f"{table}.parquet")
            con.execute(
                f"COPY (SELECT * FROM read_parquet('{glob}', hive_partitioning = false)) "
                f"TO '{target}' (FORMAT parquet, COMPRESSION zstd)"
            )
            rows = con.execute(f"SELECT count(*) FROM read_parquet('{target}')").fetchone()[0]
            out[table] = {"bytes": os.path.getsize(target), "rows": rows}
        return out
    raise SystemExit(f"unknown job mode {mode!r}")


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        print(json.dumps(run(json.load(f))))
