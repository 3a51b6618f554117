//! Receivers: the network front of the collector. Each decodes a request, normalizes it and
//! hands the records to the store, answering only once they are durable.
//!
//! Store failures map to the statuses OTLP exporters retry on (`UNAVAILABLE`), so overload slows
//! senders down instead of losing data; a request that cannot be normalized is answered
//! `INVALID_ARGUMENT` with the reason, and nothing of it is stored.

pub mod otlp_grpc;
