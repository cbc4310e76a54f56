//! The FLASH co-design service: HTTP API, storage, job queue and CLI. `main.rs` only parses the
//! command line; everything lives here so tests and benchmarks share it.

pub mod api;
pub mod app;
pub mod cli;
pub mod dashboard;
pub mod demo;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod plots;
pub mod profiles;
pub mod store;
pub mod telemetry;

pub use app::{ApiConfig, AppState, Application};
pub use store::Store;
