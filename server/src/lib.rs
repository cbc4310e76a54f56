//! The FLASH co-design service: HTTP API, storage, job queue and CLI. `main.rs` only parses the
//! command line; everything lives here so tests and benchmarks share it.

pub mod app;
pub mod cli;
pub mod dashboard;
pub mod demo;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod plots;
pub mod profiles;
pub mod routes;
pub mod services;
pub mod state;
pub mod store;
pub mod telemetry;

pub use app::Application;
pub use state::{ApiConfig, AppState};
pub use store::Store;
