#!/usr/bin/env bash
# Peak concurrency per function over N invocations (default 10M): faasobs's sweep aggregate in
# DataFusion against DuckDB's window-function formulation, on the same Parquet file.
# Needs the project's .venv (bash tests/run-all.sh creates it). Release build: slow the first time.
set -euo pipefail
cd "$(dirname "$0")/../.."
N="${1:-10000000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/faasobs/target}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
.venv/bin/python - "$work/invocations.parquet" "$N" <<'PY'
import sys, duckdb
path, n = sys.argv[1], int(sys.argv[2])
duckdb.sql(f"""
COPY (
  SELECT 'fn-' || (i % 100) AS function_name,
         make_timestamp(1795392000000000 + (hash(i) % 86400000000)::BIGINT) AS start_time,
         make_timestamp(1795392000000000 + (hash(i) % 86400000000)::BIGINT
                        + 1000 + (hash(i * 7) % 2000000)::BIGINT) AS end_time
  FROM range({n}) t(i)
) TO '{path}' (FORMAT parquet)
""")
PY
cargo build --release --quiet -p faasobs-analyzer --example concurrency_peak
"$CARGO_TARGET_DIR/release/examples/concurrency_peak" "$work/invocations.parquet" 3
.venv/bin/python - "$work/invocations.parquet" <<'PY'
import sys, time, duckdb
path = sys.argv[1]
sql = f"""
WITH events AS (
  SELECT function_name, start_time AS t, 1 AS d FROM '{path}'
  UNION ALL SELECT function_name, end_time AS t, -1 AS d FROM '{path}'),
running AS (
  SELECT function_name, sum(d) OVER (PARTITION BY function_name ORDER BY t, d
                                     ROWS UNBOUNDED PRECEDING) AS c FROM events)
SELECT function_name, max(c) AS peak FROM running GROUP BY function_name"""
best, checksum = float("inf"), None
for _ in range(3):
    started = time.perf_counter()
    rows = duckdb.sql(sql).fetchall()
    best = min(best, time.perf_counter() - started)
    checksum = sum(r[1] for r in rows)
print(f"DuckDB {duckdb.__version__} (window function): best of 3: {best:.3f} s, sum of peaks {checksum}")
PY
