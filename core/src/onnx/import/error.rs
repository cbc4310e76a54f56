//! Why bytes are not an importable ONNX model, and the constructors the importer uses.

use crate::ir::GraphError;

/// Why bytes are not an importable ONNX model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    #[error("not a valid ONNX protobuf (malformed or truncated): {0}")]
    Malformed(String),
    #[error("invalid ONNX model: {0}")]
    Invalid(String),
    #[error("node {node:?}: operator {op_type:?} is not supported{detail}")]
    Unsupported {
        node: String,
        op_type: String,
        /// Empty, or `": why"` when the operator is supported only in other forms.
        detail: String,
    },
    #[error(
        "node {node:?}: input {tensor:?} must be a constant (an initializer or a Constant node)"
    )]
    MissingInitializer { node: String, tensor: String },
    #[error("node {node:?}: attribute {attribute:?} {message}")]
    BadAttribute {
        node: String,
        attribute: String,
        message: String,
    },
    #[error("node {node:?}: cannot infer the shape of tensor {tensor:?}: {message}")]
    Shape {
        node: String,
        tensor: String,
        message: String,
    },
    #[error("the graph has a cycle through node {node:?}")]
    Cycle { node: String },
    #[error("model too large: {0}")]
    TooLarge(String),
    #[error(transparent)]
    Graph(#[from] GraphError),
}

pub(super) fn invalid(message: impl Into<String>) -> ImportError {
    ImportError::Invalid(message.into())
}

pub(super) fn unsupported(node: &str, op_type: &str, detail: &str) -> ImportError {
    ImportError::Unsupported {
        node: node.to_string(),
        op_type: op_type.to_string(),
        detail: if detail.is_empty() {
            String::new()
        } else {
            format!(": {detail}")
        },
    }
}

pub(super) fn bad_attribute(
    node: &str,
    attribute: &str,
    message: impl Into<String>,
) -> ImportError {
    ImportError::BadAttribute {
        node: node.to_string(),
        attribute: attribute.to_string(),
        message: message.into(),
    }
}
