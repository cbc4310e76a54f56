//! The server's integration tests, one binary: each module was a test file of its own, and one
//! binary links the server once instead of once per file.

mod common;

mod agent_e2e;
mod backpressure;
mod bad_input;
mod dashboard;
mod demo;
mod faults;
mod http_api;
mod layering;
mod models_api;
mod notebook_script;
mod readme;
mod refine;
mod replicas;
mod route_scopes;
mod sampling_api;
mod security;
mod store_contract;
