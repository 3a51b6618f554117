#!/usr/bin/env bash
# The benchmark in one command: builds faasobs in release mode, makes the Python environment with
# DuckDB, and runs `faasobs bench` (default: 10M invocations of 200 functions, 2M spans, 5M log
# lines; pass its options to change them, e.g. `--invocations 100000000` for the scale run or
# `--only queries`). Results: faasobs-bench/results.md and results.json; see docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/python-env.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/faasobs/target}"
cargo build --release
exec "$CARGO_TARGET_DIR/release/faasobs" bench "$@"
