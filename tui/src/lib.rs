//! `faasobs tui`: a live terminal dashboard over a faasobs data directory.
//!
//! Built the Elm way, in the order data flows:
//! - [`data`]: SQL through the analyzer into plain snapshots (overview, one function), off the UI
//!   thread;
//! - [`model`]: the state, the messages and the commands;
//! - [`update`]: the only place state changes, pure;
//! - [`view`]: draws the state and only reads it (`view/overview.rs`, `view/detail.rs`,
//!   `view/help.rs`);
//! - [`app`]: the runtime: terminal events and ticks in, queries out, redraws on change.

pub mod app;
pub mod data;
pub mod model;
pub mod update;
pub mod view;

pub use app::{DashboardConfig, run};
