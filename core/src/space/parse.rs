//! Parsing a spec from JSON, reporting every invalid field by path.

use super::{ArchSpec, Block, CellSpec, Family, FieldError, Space, SpecError};
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

/// Largest ResNet inner width multiplier and MobileNet expansion ratio.
pub const MAX_MULTIPLIER: u64 = 8;
/// Largest MobileNet depthwise kernel.
pub const MAX_KERNEL: u64 = 7;

/// The fields a cell of `family` has.
fn cell_fields(family: Family) -> &'static [&'static str] {
    match family {
        Family::Densenet => &["width", "depth", "tc"],
        Family::Resnet => &["width", "depth", "block", "multiplier"],
        Family::Mobilenet => &["width", "depth", "expansion", "kernel"],
    }
}

/// Reads cell `i` of a spec of `family`, recording what is wrong with it.
fn parse_cell(
    errors: &mut Vec<FieldError>,
    i: usize,
    cell: &serde_json::Value,
    family: Family,
) -> Option<CellSpec> {
    let Some(c) = cell.as_object() else {
        errors.push(FieldError::new(format!("cells[{i}]"), "must be an object"));
        return None;
    };
    let fields = cell_fields(family);
    for key in c.keys().filter(|k| !fields.contains(&k.as_str())) {
        let family: &str = family.into();
        errors.push(FieldError::new(
            format!("cells[{i}].{key}"),
            format!("unknown field (a {family} cell has {})", fields.join(", ")),
        ));
    }
    let before = errors.len();
    let mut field = |name: &str, min: u64, max: u64| {
        uint(errors, format!("cells[{i}].{name}"), c.get(name), min, max)
    };
    let width = field("width", 1, MAX_WIDTH);
    let min_depth = if family == Family::Densenet { 3 } else { 1 };
    let depth = field("depth", min_depth, MAX_DEPTH);
    let cell = match family {
        Family::Densenet => {
            let tc = field("tc", 0, MAX_WIDTH * MAX_DEPTH);
            CellSpec::dense(width?, depth?, tc?)
        }
        Family::Resnet => {
            let multiplier = field("multiplier", 1, MAX_MULTIPLIER);
            let block = match c.get("block").map(|b| serde_json::from_value(b.clone())) {
                Some(Ok(block)) => Some(block),
                Some(Err(_)) => {
                    errors.push(FieldError::new(
                        format!("cells[{i}].block"),
                        "must be \"basic\" or \"bottleneck\"",
                    ));
                    None
                }
                None => {
                    errors.push(FieldError::new(format!("cells[{i}].block"), "is required"));
                    None
                }
            };
            let (width, multiplier) = (width?, multiplier?);
            if block == Some(Block::Bottleneck) && (width * multiplier) % 4 != 0 {
                errors.push(FieldError::new(
                    format!("cells[{i}].width"),
                    "a bottleneck's inner width, multiplier * width / 4, must be a whole number",
                ));
            }
            CellSpec::residual(width, depth?, block?, multiplier)
        }
        Family::Mobilenet => {
            // An expansion of 1 would run the first depthwise convolution on the previous
            // cell's channels, making a cell's NN-Degree depend on its neighbour.
            let expansion = field("expansion", 2, MAX_MULTIPLIER);
            let kernel = field("kernel", 1, MAX_KERNEL);
            if kernel.is_some_and(|k| k % 2 == 0) {
                errors.push(FieldError::new(
                    format!("cells[{i}].kernel"),
                    "must be odd (1, 3, 5 or 7)",
                ));
            }
            CellSpec::inverted(width?, depth?, expansion?, kernel?)
        }
    };
    (errors.len() == before).then_some(cell)
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
                let family = default.map_or(Family::Densenet, |s| s.family);
                for (i, cell) in list.iter().enumerate() {
                    if let Some(cell) = parse_cell(&mut errors, i, cell, family) {
                        cells.push(cell);
                    }
                }
            }
            Some(_) => errors.push(FieldError::new("cells", "must be a list of cells")),
            None => errors.push(FieldError::new("cells", "is required")),
        }
        // Every shape is fine: stems and stride-2 convolutions map any n >= 1 to at least 1.
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

    #[test]
    fn resnet_and_mobilenet_cells_parse_with_their_own_fields() {
        let resnet = r#"{"space":"flash-resnet","input_shape":[3,32,32],"num_classes":10,"cells":[{"width":16,"depth":2,"block":"basic","multiplier":1},{"width":32,"depth":1,"block":"bottleneck","multiplier":2},{"width":64,"depth":3,"block":"basic","multiplier":2}]}"#;
        let spec = ArchSpec::from_json(resnet).unwrap();
        assert!(spec.in_space());
        assert_eq!(spec.canonical_json(), resnet);
        assert_eq!(spec.family(), Family::Resnet);
        let mobilenet = r#"{"space":"flash-mobilenet","cells":[{"width":16,"depth":1,"expansion":3,"kernel":3},{"width":24,"depth":2,"expansion":6,"kernel":5},{"width":32,"depth":4,"expansion":6,"kernel":3},{"width":64,"depth":1,"expansion":3,"kernel":5}]}"#;
        let spec = ArchSpec::from_json(mobilenet).unwrap();
        assert!(spec.in_space());
        assert_eq!(spec.family(), Family::Mobilenet);
    }

    #[test]
    fn a_cell_of_the_wrong_family_or_with_bad_fields_is_named() {
        let fields = |text: &str| -> Vec<String> {
            let err = ArchSpec::from_json(text).unwrap_err();
            err.0.iter().map(|e| e.to_string()).collect()
        };
        assert_eq!(
            fields(r#"{"space":"flash-resnet","cells":[{"width":16,"depth":2,"tc":8}]}"#),
            [
                "cells[0].tc: unknown field (a resnet cell has width, depth, block, multiplier)",
                "cells[0].multiplier: is required",
                "cells[0].block: is required"
            ]
        );
        assert_eq!(
            fields(
                r#"{"space":"flash-resnet","cells":[{"width":6,"depth":0,"block":"wide","multiplier":1},{"width":6,"depth":1,"block":"bottleneck","multiplier":1}]}"#
            ),
            [
                "cells[0].depth: must be >= 1",
                "cells[0].block: must be \"basic\" or \"bottleneck\"",
                "cells[1].width: a bottleneck's inner width, multiplier * width / 4, must be a whole number"
            ]
        );
        assert_eq!(
            fields(
                r#"{"space":"flash-mobilenet","cells":[{"width":16,"depth":1,"expansion":1,"kernel":4}]}"#
            ),
            [
                "cells[0].expansion: must be >= 2",
                "cells[0].kernel: must be odd (1, 3, 5 or 7)"
            ]
        );
    }
}
