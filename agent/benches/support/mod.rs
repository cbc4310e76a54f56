//! What the measurement benchmarks share: ONNX Runtime and the x86-host protocol on this
//! machine, and paired measurement of specs against their space's reference network.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use flash_agent::agent::{Reference, measure_model};
use flash_agent::runtime::{self, Runtime};
use flash_core::measurement::{MeasurementResult, REFERENCE_HISTORY, reference_latency};
use flash_core::profile::{AgentProfile, Profile, ProtocolDefaults};
use flash_core::{ArchSpec, Space, onnx};

/// An environment variable parsed, or `default`.
pub fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub struct Bench {
    runtime: &'static Runtime,
    profile: Profile,
    pub protocol: ProtocolDefaults,
    pub started: Instant,
}

impl Bench {
    /// The runtime and the x86-host profile's protocol with `threads` and a timed `budget_s`.
    pub fn new(threads: u32, budget_s: f64) -> Bench {
        let library = runtime::locate_library_here(false).unwrap_or_else(|e| panic!("{e}"));
        let runtime = Runtime::load(&library).unwrap_or_else(|e| panic!("{e}"));
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(manifest.join("../profiles/x86-host.toml")).unwrap();
        let profile = Profile::parse(&text).unwrap();
        let mut protocol = profile.agent().unwrap().protocol.clone();
        protocol.threads = threads;
        protocol.time_budget_s = budget_s;
        Bench {
            runtime,
            profile,
            protocol,
            started: Instant::now(),
        }
    }

    fn agent(&self) -> &AgentProfile {
        self.profile.agent().unwrap()
    }

    /// Measures each spec paired with its space's reference network, one after the other, with
    /// a progress line each on stderr.
    pub fn measure(&self, specs: &[ArchSpec], label: &str) -> Vec<MeasurementResult> {
        let models: Vec<(String, Vec<u8>, Reference)> = specs
            .iter()
            .map(|spec| {
                let space = spec.space().expect("a spec of a known space");
                let reference = Reference::of_spec(&space.reference_spec());
                (spec.id(), onnx::export_spec(spec), reference)
            })
            .collect();
        self.measure_models(&models, label)
    }

    /// Measures each (name, ONNX model, reference) paired with its reference, one after the
    /// other, with a progress line each on stderr.
    pub fn measure_models(
        &self,
        models: &[(String, Vec<u8>, Reference)],
        label: &str,
    ) -> Vec<MeasurementResult> {
        models
            .iter()
            .enumerate()
            .map(|(i, (name, model, reference))| {
                let r = measure_model(
                    self.runtime,
                    model,
                    Some(reference),
                    &self.protocol,
                    self.agent(),
                    Path::new("/sys"),
                    &AtomicBool::new(false),
                )
                .unwrap_or_else(|e| panic!("measuring {name}: {e}"));
                let ratio = r.ratio.as_ref().expect("paired");
                eprintln!(
                    "  {label} {}/{}: {name} raw p50 {:.3} ms, ratio {:.4} (CI +-{:.2}%, n {}), reference p50 {:.3} ms [{:.0} s]",
                    i + 1,
                    models.len(),
                    r.latency.p50_ms,
                    ratio.p50,
                    100.0 * ratio.relative_ci(),
                    ratio.n,
                    r.reference.as_ref().expect("paired").latency.p50_ms,
                    self.started.elapsed().as_secs_f64()
                );
                r
            })
            .collect()
    }
}

/// The device's reference latency after `history` (the measurements the benchmark made with
/// one reference, oldest first), as the server computes it: the median reference p50 of the
/// latest [`REFERENCE_HISTORY`].
pub fn device_reference_latency(history: &[&MeasurementResult]) -> f64 {
    let p50s: Vec<f64> = history
        .iter()
        .rev()
        .take(REFERENCE_HISTORY)
        .filter_map(|m| m.reference.as_ref().map(|r| r.latency.p50_ms))
        .collect();
    reference_latency(&p50s).expect("paired measurements")
}

/// The space by name, or a clear panic.
pub fn space(name: &str) -> &'static Space {
    Space::by_name(name).unwrap_or_else(|| panic!("no space {name}"))
}
