//! Parsing a spec from JSON, reporting every invalid field by path.

use super::{ArchSpec, CellSpec, FieldError, Space, SpecError};
use crate::ir::MAX_DIM;

/// Largest cell count a spec may have.
pub const MAX_CELLS: usize = 16;
/// Largest depth a cell may have.
pub const MAX_DEPTH: u64 = 1024;
/// Largest width a cell may have.
pub const MAX_WIDTH: u64 = 4096;

/// Reads a required integer field in `min..=max`, recording what is wrong with it.
fn uint(
    errors: &mut Vec<FieldError>,
    field: String,
    v: Option<&serde_json::Value>,
    min: u64,
    max: u64,
) -> Option<u64> {
    let problem = match v.map(|v| (v, v.as_u64())) {
        Some((_, Some(n))) if n < min => format!("must be >= {min}"),
        Some((_, Some(n))) if n > max => format!("must be <= {max}"),
        Some((_, Some(n))) => return Some(n),
        Some((v, None)) if v.is_number() => format!("must be an integer >= {min}"),
        Some(_) => "must be an integer".to_string(),
        None => "is required".to_string(),
    };
    errors.push(FieldError::new(field, problem));
    None
}

impl ArchSpec {
    /// Parses a spec from JSON text, reporting every invalid field by path.
    pub fn from_json(text: &str) -> Result<Self, SpecError> {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| SpecError(vec![FieldError::new("$", format!("not valid JSON: {e}"))]))?;
        Self::from_value(&value)
    }

    /// Parses a spec from a JSON value, reporting every invalid field by path.
    pub fn from_value(value: &serde_json::Value) -> Result<Self, SpecError> {
        let mut errors = Vec::new();
        let Some(obj) = value.as_object() else {
            return Err(SpecError(vec![FieldError::new(
                "$",
                "must be a JSON object",
            )]));
        };
        for key in obj.keys() {
            if !["space", "input_shape", "num_classes", "cells"].contains(&key.as_str()) {
                errors.push(FieldError::new(key.as_str(), "unknown field"));
            }
        }
        let space = match obj.get("space") {
            Some(serde_json::Value::String(s)) if Space::by_name(s).is_some() => s.clone(),
            Some(serde_json::Value::String(s)) => {
                errors.push(FieldError::new(
                    "space",
                    format!("unknown space {s:?}; known: {}", Space::names().join(", ")),
                ));
                String::new()
            }
            Some(_) => {
                errors.push(FieldError::new("space", "must be a string"));
                String::new()
            }
            None => {
                errors.push(FieldError::new("space", "is required"));
                String::new()
            }
        };
        let default = Space::by_name(&space);
        let input_shape = match obj.get("input_shape") {
            None => default.map(|s| s.input_shape),
            Some(serde_json::Value::Array(dims)) if dims.len() == 3 => {
                let d: Vec<Option<u64>> = (0..3)
                    .map(|i| {
                        uint(
                            &mut errors,
                            format!("input_shape[{i}]"),
                            dims.get(i),
                            1,
                            MAX_DIM,
                        )
                    })
                    .collect();
                match d[..] {
                    [Some(c), Some(h), Some(w)] => Some([c, h, w]),
                    _ => None,
                }
            }
            Some(_) => {
                errors.push(FieldError::new(
                    "input_shape",
                    "must be [channels, height, width]",
                ));
                None
            }
        };
        let num_classes = match obj.get("num_classes") {
            None => default.map(|s| s.num_classes),
            v => uint(&mut errors, "num_classes".into(), v, 1, MAX_DIM),
        };
        let mut cells = Vec::new();
        match obj.get("cells") {
            Some(serde_json::Value::Array(list)) if list.is_empty() => {
                errors.push(FieldError::new("cells", "must have at least one cell"));
            }
            Some(serde_json::Value::Array(list)) if list.len() > MAX_CELLS => {
                errors.push(FieldError::new(
                    "cells",
                    format!("at most {MAX_CELLS} cells"),
                ));
            }
            Some(serde_json::Value::Array(list)) => {
                for (i, cell) in list.iter().enumerate() {
                    let Some(c) = cell.as_object() else {
                        errors.push(FieldError::new(format!("cells[{i}]"), "must be an object"));
                        continue;
                    };
                    for key in c.keys() {
                        if !["width", "depth", "tc"].contains(&key.as_str()) {
                            errors.push(FieldError::new(
                                format!("cells[{i}].{key}"),
                                "unknown field",
                            ));
                        }
                    }
                    let width = uint(
                        &mut errors,
                        format!("cells[{i}].width"),
                        c.get("width"),
                        1,
                        MAX_WIDTH,
                    );
                    let depth = uint(
                        &mut errors,
                        format!("cells[{i}].depth"),
                        c.get("depth"),
                        3,
                        MAX_DEPTH,
                    );
                    let tc = uint(
                        &mut errors,
                        format!("cells[{i}].tc"),
                        c.get("tc"),
                        0,
                        MAX_WIDTH * MAX_DEPTH,
                    );
                    if let (Some(width), Some(depth), Some(tc)) = (width, depth, tc) {
                        cells.push(CellSpec { width, depth, tc });
                    }
                }
            }
            Some(_) => errors.push(FieldError::new("cells", "must be a list of cells")),
            None => errors.push(FieldError::new("cells", "is required")),
        }
        // Every shape is fine: a stride-2 3x3 conv with pad 1 maps n to (n - 1) / 2 + 1 >= 1.
        match (errors.is_empty(), input_shape, num_classes) {
            (true, Some(input_shape), Some(num_classes)) => Ok(ArchSpec {
                space,
                input_shape,
                num_classes,
                cells,
            }),
            _ => Err(SpecError(errors)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::test_support::cells;

    const EXAMPLE: &str = r#"{"space":"flash-densenet","input_shape":[3,32,32],"num_classes":10,"cells":[{"width":32,"depth":8,"tc":16},{"width":64,"depth":8,"tc":32},{"width":128,"depth":8,"tc":64}]}"#;

    #[test]
    fn parses_the_example_and_it_is_in_the_space() {
        let spec = ArchSpec::from_json(EXAMPLE).unwrap();
        assert!(spec.in_space());
        assert_eq!(spec.canonical_json(), EXAMPLE);
        let off_grid = cells([(33, 8, 16), (64, 8, 32), (128, 8, 64)]);
        assert!(!off_grid.in_space());
    }

    #[test]
    fn invalid_fields_are_named() {
        let err = ArchSpec::from_json(
            r#"{"space":"flash-densenet","cells":[{"width":32,"depth":8,"tc":16},{"width":0,"depth":2,"tc":-1}]}"#,
        )
        .unwrap_err();
        let fields: Vec<_> = err.0.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            fields,
            [
                "cells[1].width: must be >= 1",
                "cells[1].depth: must be >= 3",
                "cells[1].tc: must be an integer >= 0"
            ]
        );
        let err = ArchSpec::from_json(r#"{"space":"nope","cells":[]}"#).unwrap_err();
        assert_eq!(err.0[0].field, "space");
        assert_eq!(err.0[1].field, "cells");
        assert!(ArchSpec::from_json("{").is_err());
    }
}
