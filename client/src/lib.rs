//! The FLASH co-design service's API as a library: the request and response types of `/v1`
//! (the server serves exactly these; with the `openapi` feature they carry their schemas), and a
//! blocking HTTP client for agents, notebooks-in-Rust, the demo and tests.

pub mod http;
pub mod types;

pub use http::{Ack, Client, ClientError, Exchange, Observer, RetryPolicy};
pub use types::*;
