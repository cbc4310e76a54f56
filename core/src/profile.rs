//! Device profiles (the files in profiles/): how an agent measures on a device, which energy
//! sensor it reads, the power model behind an estimate when it has none, and the crossbar model of
//! an analytic in-memory-computing accelerator, which needs no agent at all.
//!
//! Pure: profiles are parsed from text; reading the files is the caller's business.

use serde::{Deserialize, Serialize};

use crate::ir::{Graph, Op, Shape};
use crate::measurement::Protocol;
use crate::space::FieldError;

/// Why a profile was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProfileError {
    /// Not TOML, an unknown key, a missing key or a value of the wrong type.
    #[error("{0}")]
    Syntax(String),
    /// Well-formed but out of range or inconsistent, field by field.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
}

/// One device profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// The file's stem in profiles/ (`x86-host`).
    pub name: String,
    pub description: String,
    pub device: DeviceKind,
}

/// Measured by an agent, or computed from a model of the hardware.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    Agent(AgentProfile),
    Analytic(CrossbarModel),
}

/// What an agent needs to measure on the device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentProfile {
    pub protocol: ProtocolDefaults,
    pub energy: EnergyConfig,
    pub power_model: PowerModel,
}

/// The measurement protocol with every value set; a job's [`Protocol`] overrides some of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtocolDefaults {
    /// Intra-op threads of the ONNX Runtime session.
    pub threads: u32,
    /// `cpu` or `cuda`.
    pub provider: String,
    /// Target half-width of the median's 95% interval, relative (0.01 = +-1%).
    pub target_relative_ci: f64,
    /// Most seconds of timed runs.
    pub time_budget_s: f64,
    /// Fewest timed runs.
    pub min_runs: u32,
    /// Most warm-up runs.
    pub max_warmup_runs: u32,
    /// Warm-up runs compared at a time: warm-up ends when the medians of the last two windows
    /// differ by less than `warmup_tolerance`.
    #[serde(default = "default_warmup_window")]
    pub warmup_window: u32,
    #[serde(default = "default_warmup_tolerance")]
    pub warmup_tolerance: f64,
    /// Time every run alternately with the reference network (see
    /// `measurement::MeasurementResult`); on unless a profile or a job turns it off.
    #[serde(default = "default_paired")]
    pub paired: bool,
}

fn default_paired() -> bool {
    true
}

fn default_warmup_window() -> u32 {
    10
}

fn default_warmup_tolerance() -> f64 {
    0.02
}

impl ProtocolDefaults {
    /// These defaults with the values a job sets.
    pub fn with_overrides(&self, job: Option<&Protocol>) -> ProtocolDefaults {
        let mut p = self.clone();
        if let Some(job) = job {
            p.threads = job.threads.unwrap_or(p.threads);
            p.provider = job.provider.clone().unwrap_or(p.provider);
            p.target_relative_ci = job.target_relative_ci.unwrap_or(p.target_relative_ci);
            p.time_budget_s = job.time_budget_s.unwrap_or(p.time_budget_s);
            p.min_runs = job.min_runs.unwrap_or(p.min_runs);
            p.max_warmup_runs = job.max_warmup_runs.unwrap_or(p.max_warmup_runs);
            p.paired = job.paired.unwrap_or(p.paired);
        }
        p
    }

    fn validate(&self, errors: &mut Vec<FieldError>) {
        let as_protocol = Protocol {
            threads: Some(self.threads),
            provider: Some(self.provider.clone()),
            target_relative_ci: Some(self.target_relative_ci),
            time_budget_s: Some(self.time_budget_s),
            min_runs: Some(self.min_runs),
            max_warmup_runs: Some(self.max_warmup_runs),
            paired: Some(self.paired),
        };
        errors.extend(as_protocol.validate("protocol."));
        if !(2..=1000).contains(&self.warmup_window) {
            errors.push(FieldError::new(
                "protocol.warmup_window",
                "must be in 2..=1000",
            ));
        }
        if !(self.warmup_tolerance > 0.0 && self.warmup_tolerance < 1.0) {
            errors.push(FieldError::new(
                "protocol.warmup_tolerance",
                "must be in (0, 1)",
            ));
        }
    }
}

/// Which sensor gives the energy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sensor {
    /// RAPL package counters under /sys/class/powercap.
    Rapl,
    /// The NVML total-energy counter of GPU 0.
    Nvml,
    /// A hwmon power rail (`power*_input`, microwatts), e.g. an INA219 on the supply.
    Hwmon,
    /// No sensor: the power model's estimate.
    None,
}

/// The profile's `[energy]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnergyConfig {
    pub sensor: Sensor,
    /// Shortest integration window in seconds: several update periods of the counter.
    pub window_s: f64,
    /// hwmon only: the device's `name` file content (`ina219`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hwmon_name: Option<String>,
    /// hwmon only: the power file in that device's directory (`power1_input`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hwmon_input: Option<String>,
}

impl EnergyConfig {
    fn validate(&self, errors: &mut Vec<FieldError>) {
        if !(self.window_s.is_finite() && self.window_s > 0.0 && self.window_s <= 600.0) {
            errors.push(FieldError::new("energy.window_s", "must be in (0, 600]"));
        }
        let hwmon = self.sensor == Sensor::Hwmon;
        for (field, value) in [
            ("energy.hwmon_name", &self.hwmon_name),
            ("energy.hwmon_input", &self.hwmon_input),
        ] {
            match (hwmon, value) {
                (true, None) => {
                    errors.push(FieldError::new(field, "required when sensor = \"hwmon\""))
                }
                (false, Some(_)) => errors.push(FieldError::new(
                    field,
                    "only allowed when sensor = \"hwmon\"",
                )),
                (true, Some(v)) if v.is_empty() || v.contains('/') => {
                    errors.push(FieldError::new(field, "must be a plain file name"))
                }
                _ => {}
            }
        }
        if let Some(input) = &self.hwmon_input
            && !(input.starts_with("power") && input.ends_with("_input"))
        {
            errors.push(FieldError::new(
                "energy.hwmon_input",
                "must be a power*_input file (microwatts)",
            ));
        }
    }
}

/// Power drawn while running inference, for the estimate when there is no sensor:
/// `static_w + per_thread_w * threads`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PowerModel {
    pub static_w: f64,
    pub per_thread_w: f64,
    /// Where the numbers come from; travels with every estimate.
    pub source: String,
}

impl PowerModel {
    pub fn power_w(&self, threads: u32) -> f64 {
        self.static_w + self.per_thread_w * f64::from(threads)
    }

    /// Millijoules per inference of `latency_ms` (watts times milliseconds).
    pub fn energy_mj(&self, latency_ms: f64, threads: u32) -> f64 {
        self.power_w(threads) * latency_ms
    }

    fn validate(&self, errors: &mut Vec<FieldError>) {
        for (field, v) in [
            ("power_model.static_w", self.static_w),
            ("power_model.per_thread_w", self.per_thread_w),
        ] {
            if !(v.is_finite() && (0.0..=10_000.0).contains(&v)) {
                errors.push(FieldError::new(field, "must be in [0, 10000] watts"));
            }
        }
        if self.static_w + self.per_thread_w <= 0.0 {
            errors.push(FieldError::new(
                "power_model.static_w",
                "static_w + per_thread_w must be > 0",
            ));
        }
        if self.source.trim().is_empty() {
            errors.push(FieldError::new(
                "power_model.source",
                "must say where the numbers come from",
            ));
        }
    }
}

/// An in-memory-computing accelerator of resistive crossbars: weights stay in the arrays, each
/// conv or linear layer is unrolled to a (inputs x outputs) matrix and mapped onto tiles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrossbarModel {
    /// Word lines of one crossbar (matrix rows: unrolled inputs).
    pub rows: u64,
    /// Bit lines of one crossbar (matrix columns, times cells per weight).
    pub cols: u64,
    /// Bits stored per cell.
    pub cell_bits: u32,
    /// Bits per weight; a weight spans `ceil(weight_bits / cell_bits)` adjacent cells.
    pub weight_bits: u32,
    /// Area of one tile: the array with its DACs, ADCs and sample-and-hold.
    pub tile_area_mm2: f64,
    /// One full-precision matrix-vector product on a tile (all input bit slices).
    pub tile_latency_ns: f64,
    /// Energy of one full-precision MAC in the array, ADC share included.
    pub mac_energy_pj: f64,
    /// Buffers, shift-and-add, activation and pooling units and the interconnect, as fractions
    /// of the tiles' area and energy.
    pub peripheral_area_fraction: f64,
    pub peripheral_energy_fraction: f64,
    /// Digital post-processing after each matrix-vector product (partial-sum reduction across
    /// row tiles, activation), not overlapped with the array.
    pub peripheral_latency_ns: f64,
    /// Where the numbers come from.
    pub source: String,
}

/// Latency, energy and area of one network on a [`CrossbarModel`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossbarEstimate {
    /// Conv and linear layers mapped.
    pub layers: u64,
    pub tiles: u64,
    /// Weight cells used over cells of the mapped tiles.
    pub utilization: f64,
    pub macs: u64,
    pub area_mm2: f64,
    pub latency_ms: f64,
    pub energy_mj: f64,
}

impl CrossbarModel {
    pub fn cells_per_weight(&self) -> u64 {
        u64::from(self.weight_bits.div_ceil(self.cell_bits))
    }

    /// Tiles holding a `rows x cols` weight matrix.
    pub fn tiles_for(&self, rows: u64, cols: u64) -> u64 {
        rows.div_ceil(self.rows) * (cols * self.cells_per_weight()).div_ceil(self.cols)
    }

    /// Maps every conv (one matrix per group) and linear layer of `graph`. Layers run one after
    /// the other, each with all its tiles in parallel, one matrix-vector product per output
    /// position; BatchNorm is folded into the weights and the other operators run in the
    /// peripherals.
    pub fn evaluate(&self, graph: &Graph) -> CrossbarEstimate {
        let (mut layers, mut tiles, mut macs, mut weights) = (0u64, 0u64, 0u64, 0u64);
        let mut latency_ns = 0.0;
        for (i, node) in graph.nodes().iter().enumerate() {
            let input = node.inputs.first().map(|&j| graph.shape(j));
            let (rows, cols, matrices, positions) = match (&node.op, input, graph.shape(i)) {
                (
                    Op::Conv {
                        out_channels,
                        kernel,
                        groups,
                        ..
                    },
                    Some(Shape::Chw([cin, _, _])),
                    Shape::Chw([_, h, w]),
                ) => (
                    cin / groups * kernel * kernel,
                    out_channels / groups,
                    *groups,
                    h * w,
                ),
                (Op::Linear { out_features, .. }, Some(s), _) => {
                    (s.elements(), *out_features, 1, 1)
                }
                _ => continue,
            };
            layers += 1;
            tiles += matrices * self.tiles_for(rows, cols);
            weights += matrices * rows * cols;
            macs += matrices * rows * cols * positions;
            latency_ns += positions as f64 * (self.tile_latency_ns + self.peripheral_latency_ns);
        }
        let cells = (tiles * self.rows * self.cols) as f64;
        CrossbarEstimate {
            layers,
            tiles,
            utilization: if tiles == 0 {
                0.0
            } else {
                (weights * self.cells_per_weight()) as f64 / cells
            },
            macs,
            area_mm2: tiles as f64 * self.tile_area_mm2 * (1.0 + self.peripheral_area_fraction),
            latency_ms: latency_ns * 1e-6,
            energy_mj: macs as f64
                * self.mac_energy_pj
                * (1.0 + self.peripheral_energy_fraction)
                * 1e-9,
        }
    }

    fn validate(&self, errors: &mut Vec<FieldError>) {
        for (field, v) in [("crossbar.rows", self.rows), ("crossbar.cols", self.cols)] {
            if !(1..=65_536).contains(&v) {
                errors.push(FieldError::new(field, "must be in 1..=65536"));
            }
        }
        if !(1..=8).contains(&self.cell_bits) {
            errors.push(FieldError::new("crossbar.cell_bits", "must be in 1..=8"));
        }
        if !(1..=32).contains(&self.weight_bits) {
            errors.push(FieldError::new("crossbar.weight_bits", "must be in 1..=32"));
        } else if u64::from(self.weight_bits.div_ceil(self.cell_bits.max(1))) > self.cols {
            errors.push(FieldError::new(
                "crossbar.weight_bits",
                "one weight needs more cells than a crossbar has columns",
            ));
        }
        let positive = [
            ("crossbar.tile_area_mm2", self.tile_area_mm2),
            ("crossbar.tile_latency_ns", self.tile_latency_ns),
            ("crossbar.mac_energy_pj", self.mac_energy_pj),
        ];
        for (field, v) in positive {
            if !(v.is_finite() && v > 0.0 && v < 1e9) {
                errors.push(FieldError::new(field, "must be a finite number > 0"));
            }
        }
        let overheads = [
            (
                "crossbar.peripheral_area_fraction",
                self.peripheral_area_fraction,
            ),
            (
                "crossbar.peripheral_energy_fraction",
                self.peripheral_energy_fraction,
            ),
            ("crossbar.peripheral_latency_ns", self.peripheral_latency_ns),
        ];
        for (field, v) in overheads {
            if !(v.is_finite() && (0.0..1e9).contains(&v)) {
                errors.push(FieldError::new(field, "must be a finite number >= 0"));
            }
        }
        if self.source.trim().is_empty() {
            errors.push(FieldError::new(
                "crossbar.source",
                "must say where the numbers come from",
            ));
        }
    }
}

#[derive(Clone, Copy, Deserialize, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
enum Kind {
    Agent,
    Analytic,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    name: String,
    kind: Kind,
    description: String,
    protocol: Option<ProtocolDefaults>,
    energy: Option<EnergyConfig>,
    power_model: Option<PowerModel>,
    crossbar: Option<CrossbarModel>,
}

impl Profile {
    /// Parses and validates a profile; every problem names its field.
    pub fn parse(text: &str) -> Result<Profile, ProfileError> {
        let raw: RawProfile =
            toml::from_str(text).map_err(|e| ProfileError::Syntax(e.to_string().trim().into()))?;
        let mut errors = Vec::new();
        let valid_name = !raw.name.is_empty()
            && raw.name.len() <= 64
            && raw
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid_name {
            errors.push(FieldError::new(
                "name",
                "must be 1-64 characters of a-z, 0-9 and '-'",
            ));
        }
        let kind: &'static str = raw.kind.into();
        let mut need = |field: &str, present: bool, wanted: bool| {
            if present != wanted {
                let message = if wanted {
                    format!("required when kind = \"{kind}\"")
                } else {
                    format!("not allowed when kind = \"{kind}\"")
                };
                errors.push(FieldError::new(field, message));
            }
        };
        let device = match raw.kind {
            Kind::Agent => {
                need("crossbar", raw.crossbar.is_some(), false);
                need("protocol", raw.protocol.is_some(), true);
                need("energy", raw.energy.is_some(), true);
                need("power_model", raw.power_model.is_some(), true);
                match (raw.protocol, raw.energy, raw.power_model) {
                    (Some(protocol), Some(energy), Some(power_model)) => {
                        protocol.validate(&mut errors);
                        energy.validate(&mut errors);
                        power_model.validate(&mut errors);
                        Some(DeviceKind::Agent(AgentProfile {
                            protocol,
                            energy,
                            power_model,
                        }))
                    }
                    _ => None,
                }
            }
            Kind::Analytic => {
                need("protocol", raw.protocol.is_some(), false);
                need("energy", raw.energy.is_some(), false);
                need("power_model", raw.power_model.is_some(), false);
                need("crossbar", raw.crossbar.is_some(), true);
                raw.crossbar.map(|c| {
                    c.validate(&mut errors);
                    DeviceKind::Analytic(c)
                })
            }
        };
        match device {
            Some(device) if errors.is_empty() => Ok(Profile {
                name: raw.name,
                description: raw.description,
                device,
            }),
            _ => Err(ProfileError::Invalid(errors)),
        }
    }

    pub fn agent(&self) -> Option<&AgentProfile> {
        match &self.device {
            DeviceKind::Agent(a) => Some(a),
            DeviceKind::Analytic(_) => None,
        }
    }

    pub fn crossbar(&self) -> Option<&CrossbarModel> {
        match &self.device {
            DeviceKind::Analytic(c) => Some(c),
            DeviceKind::Agent(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Node;

    const AGENT: &str = r#"
name = "test-host"
kind = "agent"
description = "a test host"

[protocol]
threads = 2
provider = "cpu"
target_relative_ci = 0.01
time_budget_s = 10
min_runs = 20
max_warmup_runs = 100

[energy]
sensor = "none"
window_s = 1.0

[power_model]
static_w = 2.0
per_thread_w = 1.5
source = "datasheet"
"#;

    const ANALYTIC: &str = r#"
name = "imc"
kind = "analytic"
description = "crossbars"

[crossbar]
rows = 128
cols = 128
cell_bits = 2
weight_bits = 8
tile_area_mm2 = 0.01
tile_latency_ns = 800.0
mac_energy_pj = 1.0
peripheral_area_fraction = 0.5
peripheral_energy_fraction = 0.25
peripheral_latency_ns = 200.0
source = "paper"
"#;

    fn invalid_fields(text: &str) -> Vec<String> {
        match Profile::parse(text) {
            Err(ProfileError::Invalid(errors)) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected invalid fields, got {other:?}"),
        }
    }

    #[test]
    fn agent_profile_and_overrides() {
        let p = Profile::parse(AGENT).unwrap();
        let a = p.agent().unwrap();
        assert_eq!(a.protocol.warmup_window, 10);
        assert_eq!(a.power_model.power_w(2), 5.0);
        // 5 W for 4 ms is 20 mJ
        assert!((a.power_model.energy_mj(4.0, 2) - 20.0).abs() < 1e-12);
        let job = Protocol {
            threads: Some(1),
            time_budget_s: Some(2.0),
            ..Protocol::default()
        };
        let merged = a.protocol.with_overrides(Some(&job));
        assert_eq!((merged.threads, merged.time_budget_s), (1, 2.0));
        assert_eq!(merged.provider, "cpu");
        assert_eq!(a.protocol.with_overrides(None), a.protocol);
    }

    #[test]
    fn invalid_profiles_name_their_fields() {
        let syntax = |text: &str| match Profile::parse(text) {
            Err(ProfileError::Syntax(m)) => m,
            other => panic!("expected a syntax error, got {other:?}"),
        };
        let m = syntax(&AGENT.replace("threads = 2\n", ""));
        assert!(m.contains("threads"), "{m}");
        let m = syntax(&AGENT.replace("min_runs", "min_run"));
        assert!(m.contains("min_run"), "{m}");
        let m = syntax(&AGENT.replace("kind = \"agent\"", "kind = \"robot\""));
        assert!(m.contains("robot"), "{m}");

        assert_eq!(
            invalid_fields(&AGENT.replace("provider = \"cpu\"", "provider = \"tpu\"")),
            ["protocol.provider"]
        );
        assert_eq!(
            invalid_fields(&AGENT.replace("sensor = \"none\"", "sensor = \"hwmon\"")),
            ["energy.hwmon_name", "energy.hwmon_input"]
        );
        assert_eq!(
            invalid_fields(&AGENT.replace("name = \"test-host\"", "name = \"Test Host\"")),
            ["name"]
        );
        assert_eq!(
            invalid_fields(&AGENT.replace("kind = \"agent\"", "kind = \"analytic\"")),
            ["protocol", "energy", "power_model", "crossbar"]
        );
        let e = Profile::parse(&AGENT.replace("kind = \"agent\"", "kind = \"analytic\""))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("protocol: not allowed when kind = \"analytic\";"),
            "{e}"
        );
        assert!(
            e.ends_with("crossbar: required when kind = \"analytic\""),
            "{e}"
        );
        assert_eq!(
            invalid_fields(&ANALYTIC.replace("cell_bits = 2", "cell_bits = 0")),
            ["crossbar.cell_bits"]
        );
        let e = Profile::parse(&ANALYTIC.replace("mac_energy_pj = 1.0", "mac_energy_pj = -1.0"))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "crossbar.mac_energy_pj: must be a finite number > 0"
        );
    }

    #[test]
    fn every_file_in_profiles_parses() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../profiles");
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let p = Profile::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(
                Some(p.name.as_str()),
                path.file_stem().and_then(|s| s.to_str())
            );
            names.push(p.name);
        }
        names.sort();
        assert_eq!(
            names,
            ["gpu-host", "imc-rram", "raspberry-pi-3b", "x86-host"]
        );
    }

    #[test]
    fn crossbar_mapping_by_hand() {
        let model = Profile::parse(ANALYTIC)
            .unwrap()
            .crossbar()
            .unwrap()
            .clone();
        assert_eq!(model.cells_per_weight(), 4);
        // 3x3 conv 16 -> 64 channels: 144 rows (2 row tiles), 64 * 4 = 256 cells (2 col tiles)
        assert_eq!(model.tiles_for(144, 64), 4);
        let conv = |out, groups| Op::Conv {
            out_channels: out,
            kernel: 3,
            stride: 1,
            padding: 1,
            groups,
            bias: false,
        };
        let graph = Graph::new(
            [16, 8, 8],
            vec![
                Node::new("in", Op::Input, vec![]),
                Node::new("c1", conv(64, 1), vec![0]),
                Node::new("bn", Op::BatchNorm, vec![1]),
                Node::new("dw", conv(64, 64), vec![2]),
                Node::new("gap", Op::GlobalAvgPool, vec![3]),
                Node::new("flat", Op::Flatten, vec![4]),
                Node::new(
                    "fc",
                    Op::Linear {
                        out_features: 10,
                        bias: true,
                    },
                    vec![5],
                ),
            ],
        )
        .unwrap();
        let e = model.evaluate(&graph);
        assert_eq!(e.layers, 3);
        // c1: 4 tiles; depthwise: 64 matrices of 9 x 1, one tile each; fc: 64 x 10 -> 1 tile
        assert_eq!(e.tiles, 4 + 64 + 1);
        let macs = 144 * 64 * 64 + 64 * 9 * 64 + 64 * 10;
        assert_eq!(e.macs, macs);
        assert_eq!(e.macs, crate::metrics::compute(&graph).macs_by_kind.total());
        let weights = 144 * 64 + 64 * 9 + 640;
        assert!((e.utilization - (weights * 4) as f64 / (69.0 * 128.0 * 128.0)).abs() < 1e-12);
        assert!((e.area_mm2 - 69.0 * 0.01 * 1.5).abs() < 1e-12);
        // two 8x8 convs of 64 positions and the linear layer's one, 1000 ns each
        assert!((e.latency_ms - 129.0 * 1000.0 * 1e-6).abs() < 1e-12);
        assert!((e.energy_mj - macs as f64 * 1.25e-9).abs() < 1e-15);
    }
}
