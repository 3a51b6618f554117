#!/usr/bin/env bash
# Runs every test: creates the Python environment the interop tests need (.venv, with the
# packages in tests/requirements.txt), then the whole cargo test suite against it.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ] || ! cmp -s tests/requirements.txt .venv/requirements.txt; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt
  cp tests/requirements.txt .venv/requirements.txt
fi
export FAASOBS_PYTHON="$PWD/.venv/bin/python"
# Dependencies (DataFusion above all) take long to build: keep them in a cache outside the clone.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/faasobs/target}"
cargo test --workspace
