//! The method's integration tests, one binary (a module per former test file), so the crate is
//! linked once.

mod digits_predictor;
mod onnx;
mod zoo;
