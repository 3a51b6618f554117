# Sourced by tests/run-all.sh and benches/run.sh: makes `.venv` with the Python packages in
# tests/requirements.txt (DuckDB, the OpenTelemetry SDK exporters) when it is missing or out of
# date, and points FAASOBS_PYTHON at it.
if [ ! -x .venv/bin/python ] || ! cmp -s tests/requirements.txt .venv/requirements.txt; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt
  cp tests/requirements.txt .venv/requirements.txt
fi
export FAASOBS_PYTHON="$PWD/.venv/bin/python"
