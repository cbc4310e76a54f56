//! The agent's integration tests, one binary (a module per former test file), so the crate is
//! linked once.

mod exported_models;
mod fake_server;
mod measure_onnx;
