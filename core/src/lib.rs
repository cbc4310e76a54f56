//! The FLASH method, pure: the architecture IR, search spaces, topology and cost metrics, ONNX
//! export and import. No IO, no async, no database.

pub mod features;
pub mod fit;
pub mod identity;
pub mod ir;
pub mod measurement;
pub mod metrics;
pub mod onnx;
pub mod profile;
pub mod rng;
pub mod sampling;
pub mod search;
pub mod space;

pub use ir::{Graph, GraphError, Node, Op, Shape};
pub use metrics::{LayerCounts, MacCounts, Metrics, StageCounts};
pub use space::{ArchSpec, CellSpec, FieldError, Space, SpecError};
