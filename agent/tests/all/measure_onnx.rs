//! Measures the tiny fixture model with the real ONNX Runtime (fetched by
//! scripts/fetch-onnxruntime.sh into .ort/).

use std::path::Path;
use std::sync::atomic::AtomicBool;

use flash_agent::agent::{Reference, measure_model};
use flash_agent::runtime::{self, Provider, Runtime, RuntimeError};
use flash_core::measurement::EnergyMethod;
use flash_core::profile::Profile;

const TINY: &[u8] = include_bytes!("../fixtures/tiny.onnx");

fn runtime() -> &'static Runtime {
    let library = runtime::locate_library_here(false).unwrap_or_else(|e| panic!("{e}"));
    Runtime::load(&library).unwrap()
}

fn x86_profile() -> Profile {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../profiles/x86-host.toml"),
    )
    .unwrap();
    Profile::parse(&text).unwrap()
}

#[test]
fn measures_a_tiny_model_with_an_estimated_energy() {
    let rt = runtime();
    assert_eq!(rt.version, runtime::ORT_VERSION);
    assert!(rt.has_provider(Provider::Cpu), "{:?}", rt.providers);
    let profile = x86_profile();
    let agent = profile.agent().unwrap();
    let mut protocol = agent.protocol.clone();
    protocol.threads = 1;
    protocol.time_budget_s = 1.0;
    protocol.min_runs = 20;
    // an empty sysfs: no RAPL, no governor, no thermal zone
    let sysfs = tempfile::tempdir().unwrap();
    let result = measure_model(
        rt,
        TINY,
        None,
        &protocol,
        agent,
        sysfs.path(),
        &AtomicBool::new(false),
    )
    .unwrap();
    let l = &result.latency;
    assert!(l.n >= 20 && l.warmup_runs >= 20, "{l:?}");
    assert!(l.p50_ms > 0.0 && l.p50_ms < 50.0, "{l:?}");
    assert!(result.validate("").is_empty(), "{:?}", result.validate(""));
    let energy = result.energy.unwrap();
    assert_eq!(energy.method, EnergyMethod::Estimated);
    // 10 W + 7 W for one thread
    assert!((energy.mj_per_inference - 17.0 * l.p50_ms).abs() < 1e-9);
    let env = &result.environment;
    assert_eq!(env.threads, Some(1));
    assert_eq!(env.provider.as_deref(), Some("CPUExecutionProvider"));
    assert_eq!(env.ort_version.as_deref(), Some(runtime::ORT_VERSION));
    assert_eq!(
        env.onnx_sha256.as_deref(),
        Some("96c5848ab4b27f5aced720933179a7b0ed2c0aafffb597087e4cc534ceb5b845")
    );
    assert_eq!((env.governor.as_ref(), env.temperature_c), (None, None));
    eprintln!(
        "tiny.onnx: p50 {:.4} ms, 95% CI [{:.4}, {:.4}], n {}, warm-up {}",
        l.p50_ms, l.p50_ci_low_ms, l.p50_ci_high_ms, l.n, l.warmup_runs
    );
}

#[test]
fn paired_with_a_reference_network_reports_the_ratio() {
    let rt = runtime();
    let profile = x86_profile();
    let agent = profile.agent().unwrap();
    let mut protocol = agent.protocol.clone();
    (protocol.threads, protocol.time_budget_s, protocol.min_runs) = (1, 1.0, 20);
    let sysfs = tempfile::tempdir().unwrap();
    let spec = flash_core::Space::by_name("flash-densenet-digits")
        .unwrap()
        .reference_spec();
    let reference = Reference::of_spec(&spec);
    let result = measure_model(
        rt,
        TINY,
        Some(&reference),
        &protocol,
        agent,
        sysfs.path(),
        &AtomicBool::new(false),
    )
    .unwrap();
    assert!(result.validate("").is_empty(), "{:?}", result.validate(""));
    let (ratio, timing) = (result.ratio.unwrap(), result.reference.unwrap());
    assert_eq!(timing.architecture_id, spec.id());
    assert_eq!(
        (ratio.n, timing.latency.n),
        (result.latency.n, result.latency.n)
    );
    // the run-by-run median ratio sits near the ratio of the medians
    let of_medians = result.latency.p50_ms / timing.latency.p50_ms;
    assert!(
        (ratio.p50 / of_medians - 1.0).abs() < 0.25,
        "ratio {ratio:?}, medians {of_medians}"
    );
    // a reference that cannot load fails the job with the reason
    let broken = Reference {
        architecture_id: "broken".into(),
        model: b"not a model".to_vec(),
    };
    let err = measure_model(
        rt,
        TINY,
        Some(&broken),
        &protocol,
        agent,
        sysfs.path(),
        &AtomicBool::new(false),
    )
    .unwrap_err();
    assert!(
        err.starts_with("the reference network broken: loading the model"),
        "{err}"
    );
}

#[test]
fn a_missing_provider_or_a_bad_model_fails_clearly() {
    let rt = runtime();
    if !rt.has_provider(Provider::Cuda) {
        let err = rt.model(TINY, 1, Provider::Cuda).err().unwrap();
        assert!(matches!(err, RuntimeError::Provider { .. }));
        assert!(err.to_string().contains("CUDAExecutionProvider"), "{err}");
    }
    let err = rt.model(b"not a model", 1, Provider::Cpu).err().unwrap();
    assert!(matches!(err, RuntimeError::Load(_)), "{err}");
}
