//! faasobs-collector: receives serverless telemetry and stores it durably.
//!
//! The pipeline runs in one direction, one module per step:
//! - [`model`]: the typed records and the fixed Arrow schemas of the `invocations`, `spans` and
//!   `logs` tables (shared with the analyzer);
//! - [`normalize`]: every input format (OTLP, Lambda logs, CloudWatch payloads) into records;
//! - [`wal`]: the write-ahead log that makes an acknowledged write durable;
//! - [`store`]: the data directory: WAL → hourly Parquet partitions, compaction, retention.
//! - [`receiver`]: the network front: OTLP over gRPC;
//! - [`ingest`]: offline import of files, format detected per file.
pub mod ingest;
pub mod model;
pub mod normalize;
pub mod receiver;
pub mod store;
pub mod wal;
