#!/usr/bin/env bash
# Runs every test: creates the Python environment the interop tests need (.venv, with the
# packages in tests/requirements.txt), then the whole cargo test suite against it.
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/python-env.sh
# Dependencies (DataFusion above all) take long to build: keep them in a cache outside the clone.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/faasobs/target}"
cargo test --workspace
