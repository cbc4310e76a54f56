//! The FLASH device agent: registers a device, claims measurement jobs from the service,
//! measures each model with ONNX Runtime under the device profile's protocol and reports.

pub mod agent;
pub mod energy;
pub mod host;
pub mod measure;
pub mod nvml;
pub mod runtime;
pub mod state;
