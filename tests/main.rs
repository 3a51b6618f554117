//! Integration tests: the real `faasobs` binary, real files, real sockets, and tools nobody
//! here wrote (DuckDB from PyPI, the OpenTelemetry exporters, real captured Lambda logs).

mod support;

mod bench;
mod compaction_retention;
mod cost;
mod crash_recovery;
mod disk_full;
mod in_memory_wal;
mod interrupted_import;
mod interrupted_query;
mod object_storage;
mod overload;
mod real_fixtures;
mod receiver_inputs;
mod reports_golden;
mod sample_to_duckdb;
mod sdk_exporters;
mod soak;
mod tui;
