//! ONNX export and import of the IR. The protobuf messages are hand-written prost structs for the
//! subset of `onnx.proto` used here, so no protoc or build script is needed.

pub mod export;
pub mod import;
pub mod proto;

pub use export::{DEFAULT_SEED, MAX_EXPORT_PARAMS, export, export_spec, too_large_to_export};
pub use import::{ImportError, import};
