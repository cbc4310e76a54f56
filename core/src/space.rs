//! Search spaces: the DenseNet-type cell network of FLASH (`flash-densenet`), its grid, specs and
//! sampling.
//!
//! # The cell network (exact definition)
//! A spec has an input shape `[C, H, W]`, a class count and cells `c = 0..`, each with width
//! `w_c`, depth `d_c >= 3` and skip budget `tc_c >= 0`.
//! - Layer 0 of cell c: Conv 3x3 (pad 1, no bias) from the previous cell's width (the input's
//!   channels for c = 0) to `w_c`, stride 1 in cell 0 and 2 in later cells; BatchNorm; ReLU.
//! - Layer j >= 1: input = concat(output of layer j-1, `t_{c,j}` skip channels); Conv 3x3
//!   (`w_c + t_{c,j} -> w_c`, stride 1, pad 1, no bias); BatchNorm; ReLU. `t_{c,1} = 0` and
//!   `t_{c,j} = min(tc_c, (j-1) w_c)` for j >= 2.
//! - Skip channels of layer j come from the outputs of layers 0..=j-2 of the same cell, most
//!   recent first: all of layer j-2's channels in ascending order, then layer j-3's, ..., until
//!   `t_{c,j}` are taken (the last layer used may contribute a prefix of its channels). This rule
//!   is the "which channels" part of the architecture: it is fixed, so the spec alone determines
//!   the graph.
//! - Head: GlobalAveragePool, Flatten, Linear(`w_last -> num_classes`, with bias).

use serde::{Deserialize, Serialize};

use crate::ir::{Graph, MAX_DIM, Node, Op};
use crate::rng::SplitMix64;

/// One cell of a spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CellSpec {
    /// Channels of every layer of the cell.
    pub width: u64,
    /// Number of layers (>= 3).
    pub depth: u64,
    /// Skip budget: the most skip channels one layer receives.
    pub tc: u64,
}

impl CellSpec {
    /// Skip channels received by layer `j` (0-based) of this cell.
    pub fn skips(&self, j: u64) -> u64 {
        if j < 2 {
            0
        } else {
            self.tc.min((j - 1) * self.width)
        }
    }

    /// Sum of skip channels over the cell's layers.
    pub fn total_skips(&self) -> u64 {
        (2..self.depth).map(|j| self.skips(j)).sum()
    }
}

/// A network of a cell space, as users write it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ArchSpec {
    /// Name of the space whose network family this is (e.g. `flash-densenet`).
    pub space: String,
    /// Input shape `[channels, height, width]`.
    pub input_shape: [u64; 3],
    pub num_classes: u64,
    pub cells: Vec<CellSpec>,
}

/// A problem with one field of a request, named by its path (`cells[1].depth`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// All that is wrong with a spec, field by field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid spec: {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
pub struct SpecError(pub Vec<FieldError>);

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

    /// The space named by the spec (always known for a parsed spec).
    pub fn space(&self) -> Option<&'static Space> {
        Space::by_name(&self.space)
    }

    /// Whether the spec is a point of its space's grid (its input shape, class count, cell count
    /// and every cell's width, depth and tc on the grid).
    pub fn in_space(&self) -> bool {
        self.space().is_some_and(|s| s.contains(self))
    }

    /// Canonical JSON: fixed key order, no whitespace. Identity is the hash of these bytes.
    pub fn canonical_json(&self) -> String {
        serde_json::to_string(self).expect("spec serialises")
    }

    /// The architecture id: hash of the canonical spec.
    pub fn id(&self) -> String {
        crate::identity::architecture_id(self.canonical_json().as_bytes())
    }

    /// Builds the network graph exactly as the module documentation defines it.
    pub fn to_graph(&self) -> Graph {
        let mut nodes = vec![Node::new("input", Op::Input, vec![])];
        let push = |nodes: &mut Vec<Node>, name: String, op: Op, inputs: Vec<usize>| {
            nodes.push(Node::new(name, op, inputs));
            nodes.len() - 1
        };
        let mut prev = 0usize;
        for (c, cell) in self.cells.iter().enumerate() {
            let mut outputs: Vec<usize> = Vec::with_capacity(cell.depth as usize);
            for j in 0..cell.depth {
                let name = |part: &str| format!("cell{c}.layer{j}.{part}");
                let stride = if j == 0 && c > 0 { 2 } else { 1 };
                let input = if j == 0 {
                    prev
                } else {
                    let t = cell.skips(j);
                    let mut parts = vec![*outputs.last().expect("layer j-1 exists")];
                    let mut left = t;
                    for src in (0..j.saturating_sub(1)).rev() {
                        if left == 0 {
                            break;
                        }
                        let take = left.min(cell.width);
                        let out = outputs[src as usize];
                        parts.push(if take == cell.width {
                            out
                        } else {
                            push(
                                &mut nodes,
                                name(&format!("skip{src}")),
                                Op::ChannelSlice {
                                    start: 0,
                                    end: take,
                                },
                                vec![out],
                            )
                        });
                        left -= take;
                    }
                    if parts.len() == 1 {
                        parts[0]
                    } else {
                        push(&mut nodes, name("concat"), Op::Concat, parts)
                    }
                };
                let conv = push(
                    &mut nodes,
                    name("conv"),
                    Op::Conv {
                        out_channels: cell.width,
                        kernel: 3,
                        stride,
                        padding: 1,
                        groups: 1,
                        bias: false,
                    },
                    vec![input],
                );
                let bn = push(&mut nodes, name("bn"), Op::BatchNorm, vec![conv]);
                let relu = push(&mut nodes, name("relu"), Op::Relu, vec![bn]);
                outputs.push(relu);
            }
            prev = *outputs.last().expect("depth >= 3");
        }
        let gap = push(&mut nodes, "head.gap".into(), Op::GlobalAvgPool, vec![prev]);
        let flat = push(&mut nodes, "head.flatten".into(), Op::Flatten, vec![gap]);
        push(
            &mut nodes,
            "head.linear".into(),
            Op::Linear {
                out_features: self.num_classes,
                bias: true,
            },
            vec![flat],
        );
        Graph::new(self.input_shape, nodes).expect("a parsed spec always builds a valid graph")
    }

    /// NN-Degree in closed form: sum over cells of `w_c + (1/d_c) sum_{j=2}^{d_c-1} t_{c,j}`.
    pub fn nn_degree(&self) -> f64 {
        self.cells
            .iter()
            .map(|c| c.width as f64 + c.total_skips() as f64 / c.depth as f64)
            .sum()
    }

    /// NN-Mass in closed form: sum over cells of `rho_c w_c d_c`, with density
    /// `rho_c = sum_j t_{c,j} / (w_c (d_c-2)(d_c-1)/2)`.
    pub fn nn_mass(&self) -> f64 {
        self.cells
            .iter()
            .map(|c| {
                let (w, d) = (c.width as f64, c.depth as f64);
                let rho = c.total_skips() as f64 / (w * (d - 2.0) * (d - 1.0) / 2.0);
                rho * w * d
            })
            .sum()
    }
}

/// A grid-shaped cell space: every cell takes one width, depth and tc from the grid.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Space {
    pub name: &'static str,
    pub description: &'static str,
    pub input_shape: [u64; 3],
    pub num_classes: u64,
    pub num_cells: usize,
    pub widths: Vec<u64>,
    pub depths: Vec<u64>,
    pub tcs: Vec<u64>,
}

/// The cell grid of FLASH's space: widths `w0, 2 w0, ..., 8 w0`, depths 3..=12 and skip budgets
/// `0, t0, ..., 49 t0` (4000 choices a cell), three cells, ten classes.
fn densenet_space(
    name: &'static str,
    description: &'static str,
    input_shape: [u64; 3],
    width_step: u64,
    tc_step: u64,
) -> Space {
    Space {
        name,
        description,
        input_shape,
        num_classes: 10,
        num_cells: 3,
        widths: (1..=8).map(|i| width_step * i).collect(),
        depths: (3..=12).collect(),
        tcs: (0..50).map(|i| tc_step * i).collect(),
    }
}

static SPACES: std::sync::LazyLock<Vec<Space>> = std::sync::LazyLock::new(|| {
    vec![
        densenet_space(
            "flash-densenet",
            "FLASH's DenseNet-type cell network on CIFAR-10-shaped input (3x32x32, 10 classes)",
            [3, 32, 32],
            16,
            8,
        ),
        densenet_space(
            "flash-densenet-digits",
            "The same cells, half as wide, on 8x8 grey digits (1x8x8, 10 classes): small enough to \
             train on a CPU, for the committed accuracy data",
            [1, 8, 8],
            8,
            4,
        ),
    ]
});

impl Space {
    pub fn all() -> &'static [Space] {
        &SPACES
    }

    pub fn by_name(name: &str) -> Option<&'static Space> {
        SPACES.iter().find(|s| s.name == name)
    }

    pub fn names() -> Vec<&'static str> {
        SPACES.iter().map(|s| s.name).collect()
    }

    /// The default space.
    pub fn default_space() -> &'static Space {
        &SPACES[0]
    }

    /// Choices for one cell.
    pub fn cell_choices(&self) -> u64 {
        (self.widths.len() * self.depths.len() * self.tcs.len()) as u64
    }

    /// Exact number of configurations (choices per cell to the power of the cell count).
    pub fn size(&self) -> u128 {
        (self.cell_choices() as u128).pow(self.num_cells as u32)
    }

    pub fn contains(&self, spec: &ArchSpec) -> bool {
        spec.space == self.name
            && spec.input_shape == self.input_shape
            && spec.num_classes == self.num_classes
            && spec.cells.len() == self.num_cells
            && spec.cells.iter().all(|c| {
                self.widths.contains(&c.width)
                    && self.depths.contains(&c.depth)
                    && self.tcs.contains(&c.tc)
            })
    }

    /// The cell at grid index `i` (0..cell_choices), widths varying slowest.
    pub fn cell_at(&self, i: u64) -> CellSpec {
        let (nd, nt) = (self.depths.len() as u64, self.tcs.len() as u64);
        CellSpec {
            width: self.widths[(i / (nd * nt)) as usize],
            depth: self.depths[((i / nt) % nd) as usize],
            tc: self.tcs[(i % nt) as usize],
        }
    }

    /// The spec with the given cells, in this space's shape.
    pub fn spec(&self, cells: Vec<CellSpec>) -> ArchSpec {
        ArchSpec {
            space: self.name.to_string(),
            input_shape: self.input_shape,
            num_classes: self.num_classes,
            cells,
        }
    }

    fn random_spec(&self, rng: &mut SplitMix64) -> ArchSpec {
        let cells = (0..self.num_cells)
            .map(|_| self.cell_at(rng.below(self.cell_choices())))
            .collect();
        self.spec(cells)
    }

    /// `n` distinct architectures drawn uniformly from the grid with `seed` (fewer only if the
    /// space has fewer than `n`).
    pub fn sample_uniform(&self, n: usize, seed: u64) -> Vec<ArchSpec> {
        let mut rng = SplitMix64::new(seed);
        let n = (n as u128).min(self.size()) as usize;
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let spec = self.random_spec(&mut rng);
            if seen.insert(spec.clone()) {
                out.push(spec);
            }
        }
        out
    }

    /// The space's reference network, which paired measurements time alternately with every
    /// network under test: of 1001 architectures drawn uniformly with seed 0, the one of median
    /// MACs (ties by id). A network near the middle of the space's cost keeps the ratios near 1
    /// and the reference's runs neither negligible nor dominant; the rule is deterministic, so
    /// every device and every server picks the same network for the same space.
    pub fn reference_spec(&self) -> ArchSpec {
        let mut pool: Vec<(u64, String, ArchSpec)> = self
            .sample_uniform(1001, 0)
            .into_iter()
            .map(|s| (crate::features::Counts::of_spec(&s).macs(), s.id(), s))
            .collect();
        pool.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        let middle = pool.len() / 2;
        pool.swap_remove(middle).2
    }

    /// `n` architectures spread evenly over NN-Degree: a uniform pool of `64 n` candidates is
    /// drawn with `seed`, and for each of `n` evenly spaced NN-Degree targets between the pool's
    /// lowest and highest value the nearest unused candidate is taken.
    pub fn sample_stratified(&self, n: usize, seed: u64) -> Vec<ArchSpec> {
        let mut pool = self.sample_uniform(n.saturating_mul(64).max(n), seed);
        if pool.len() <= n {
            return pool;
        }
        pool.sort_by(|a, b| {
            a.nn_degree()
                .total_cmp(&b.nn_degree())
                .then_with(|| a.id().cmp(&b.id()))
        });
        let degrees: Vec<f64> = pool.iter().map(ArchSpec::nn_degree).collect();
        let (lo, hi) = (degrees[0], degrees[degrees.len() - 1]);
        let mut used = vec![false; pool.len()];
        let mut picked = Vec::with_capacity(n);
        for k in 0..n {
            let target = if n == 1 {
                (lo + hi) / 2.0
            } else {
                lo + (hi - lo) * k as f64 / (n - 1) as f64
            };
            let best = (0..pool.len())
                .filter(|&i| !used[i])
                .min_by(|&a, &b| {
                    (degrees[a] - target)
                        .abs()
                        .total_cmp(&(degrees[b] - target).abs())
                })
                .expect("pool larger than n");
            used[best] = true;
            picked.push(best);
        }
        picked.sort_unstable();
        picked.into_iter().map(|i| pool[i].clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"{"space":"flash-densenet","input_shape":[3,32,32],"num_classes":10,"cells":[{"width":32,"depth":8,"tc":16},{"width":64,"depth":8,"tc":32},{"width":128,"depth":8,"tc":64}]}"#;

    fn cells(spec: [(u64, u64, u64); 3]) -> ArchSpec {
        Space::default_space().spec(
            spec.iter()
                .map(|&(width, depth, tc)| CellSpec { width, depth, tc })
                .collect(),
        )
    }

    #[test]
    fn the_reference_network_is_the_median_cost_of_its_pool() {
        for space in Space::all() {
            let reference = space.reference_spec();
            assert!(space.contains(&reference));
            assert_eq!(reference, space.reference_spec(), "deterministic");
            let macs = |s: &ArchSpec| crate::features::Counts::of_spec(s).macs();
            let pool = space.sample_uniform(1001, 0);
            let below = pool.iter().filter(|s| macs(s) < macs(&reference)).count();
            let above = pool.iter().filter(|s| macs(s) > macs(&reference)).count();
            assert!(below <= 500 && above <= 500, "{below} below, {above} above");
        }
    }

    #[test]
    fn the_default_space_has_64_billion_configurations() {
        assert_eq!(Space::default_space().size(), 64_000_000_000);
    }

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
    fn nn_mass_matches_the_reference_vectors() {
        let m = cells([(32, 13, 40), (64, 13, 80), (128, 13, 125)]).nn_mass();
        assert!((m - 526.106).abs() < 1e-3, "{m}");
        let m = cells([(32, 8, 10), (64, 8, 20), (128, 8, 40)]).nn_mass();
        assert!((m - 160.0).abs() < 1e-9, "{m}");
        assert_eq!(cells([(32, 8, 0), (64, 8, 0), (128, 8, 0)]).nn_mass(), 0.0);
        let m = cells([(32, 13, 10_000), (64, 13, 10_000), (128, 13, 10_000)]).nn_mass();
        assert!((m - 2912.0).abs() < 1e-9, "{m}");
    }

    #[test]
    fn skips_take_the_most_recent_layers_first() {
        let spec = cells([(16, 5, 20), (16, 3, 0), (16, 3, 0)]);
        let g = spec.to_graph();
        // Layer 4 of cell 0 takes all 16 channels of layer 2 and the first 4 of layer 1.
        let concat = g
            .nodes()
            .iter()
            .position(|n| n.name == "cell0.layer4.concat")
            .unwrap();
        let parts = &g.nodes()[concat].inputs;
        let names: Vec<&str> = parts.iter().map(|&i| g.nodes()[i].name.as_str()).collect();
        assert_eq!(
            names,
            [
                "cell0.layer3.relu",
                "cell0.layer2.relu",
                "cell0.layer4.skip1"
            ]
        );
        let slice = &g.nodes()[parts[2]];
        assert_eq!(slice.op, Op::ChannelSlice { start: 0, end: 4 });
        assert_eq!(g.nodes()[slice.inputs[0]].name, "cell0.layer1.relu");
    }

    #[test]
    fn sampling_is_deterministic_distinct_and_on_the_grid() {
        let space = Space::default_space();
        let a = space.sample_uniform(25, 1);
        assert_eq!(a, space.sample_uniform(25, 1));
        assert_ne!(a, space.sample_uniform(25, 2));
        assert!(a.iter().all(ArchSpec::in_space));
        let s = space.sample_stratified(25, 1);
        assert_eq!(s.len(), 25);
        assert!(s.iter().all(ArchSpec::in_space));
        let ids: std::collections::HashSet<_> = s.iter().map(ArchSpec::id).collect();
        assert_eq!(ids.len(), 25);
    }

    #[test]
    fn stratified_sampling_spreads_over_nn_degree_wider_than_uniform() {
        let space = Space::default_space();
        let spread = |v: &[ArchSpec]| {
            let mut d: Vec<f64> = v.iter().map(ArchSpec::nn_degree).collect();
            d.sort_by(f64::total_cmp);
            // the largest gap between neighbours, relative to the range
            let gap = d.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
            gap / (d[d.len() - 1] - d[0])
        };
        let s = space.sample_stratified(25, 3);
        let u = space.sample_uniform(25, 3);
        assert!(spread(&s) < spread(&u), "{} vs {}", spread(&s), spread(&u));
        assert!(spread(&s) < 0.1);
    }
}
