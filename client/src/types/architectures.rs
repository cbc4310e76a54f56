//! Architectures: a spec of a space or an imported ONNX graph, with its metrics.

use flash_core::{ArchSpec, Metrics};
use serde::{Deserialize, Serialize};

/// Where an architecture came from; its name (`spec`, `onnx`) is the same in JSON, in the store
/// and in `Display`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Source {
    /// Built from a spec of a search space.
    Spec,
    /// Imported from an uploaded ONNX model.
    Onnx,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Architecture {
    /// Hash of the canonical spec (or of the canonical graph for ONNX imports).
    pub id: String,
    pub source: Source,
    pub space: Option<String>,
    /// Whether the architecture lies on its space's grid.
    pub in_space: bool,
    pub spec: Option<ArchSpec>,
    pub metrics: Metrics,
    pub created_at: String,
}
