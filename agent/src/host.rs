//! What the agent reports about its machine: the device descriptor at registration and the
//! environment of each measurement (governor, temperature, load) read from sysfs under a root
//! path, so tests can point it at a fixture tree.

use std::path::Path;

use flash_core::measurement::{DeviceDescriptor, GpuInfo, RuntimeInfo};
use sysinfo::System;

use crate::runtime::Runtime;

/// Descriptor of this machine for `profile`, with the loaded runtime and GPU 0 if any.
pub fn descriptor(profile: &str, runtime: &Runtime, gpu: Option<GpuInfo>) -> DeviceDescriptor {
    let mut sys = System::new().ok();
    if let Some(s) = sys.as_mut() {
        s.refresh_cpu_all();
        s.refresh_memory();
    }
    let cpu_model = sys
        .as_ref()
        .and_then(|s| s.cpus().first())
        .map(|c| c.brand().trim().to_string())
        .filter(|b| !b.is_empty());
    let cores = System::physical_core_count()
        .ok()
        .or_else(|| sys.as_ref().map(|s| s.cpus().len()))
        .and_then(|n| u32::try_from(n).ok());
    DeviceDescriptor {
        profile: profile.to_string(),
        cpu_model,
        cores,
        memory_bytes: sys.as_ref().map(System::total_memory).filter(|&m| m > 0),
        os: System::long_os_version().or_else(|_| System::name()).ok(),
        kernel: System::kernel_version().ok(),
        arch: Some(System::cpu_arch()),
        runtime: Some(RuntimeInfo {
            name: "onnxruntime".into(),
            version: runtime.version.clone(),
            providers: runtime.providers.clone(),
        }),
        gpu,
        agent_version: Some(env!("CARGO_PKG_VERSION").to_string()),
    }
}

/// Frequency governor of CPU 0 (`performance`, `ondemand`, ...) under `sysfs` (normally `/sys`).
pub fn governor(sysfs: &Path) -> Option<String> {
    std::fs::read_to_string(sysfs.join("devices/system/cpu/cpu0/cpufreq/scaling_governor"))
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// CPU temperature in degrees Celsius: the hottest thermal zone whose type names the CPU or
/// package (`x86_pkg_temp`, `cpu-thermal`, `soc_thermal`), else the hottest zone.
pub fn temperature_c(sysfs: &Path) -> Option<f64> {
    let entries = std::fs::read_dir(sysfs.join("class/thermal")).ok()?;
    let mut cpu: Option<f64> = None;
    let mut any: Option<f64> = None;
    for entry in entries.filter_map(Result::ok) {
        let dir = entry.path();
        let is_zone = dir
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("thermal_zone"));
        let Some(milli) = is_zone
            .then(|| std::fs::read_to_string(dir.join("temp")).ok())
            .flatten()
            .and_then(|t| t.trim().parse::<f64>().ok())
        else {
            continue;
        };
        let c = milli / 1000.0;
        let kind = std::fs::read_to_string(dir.join("type")).unwrap_or_default();
        if ["cpu", "pkg", "soc"].iter().any(|k| kind.contains(k)) {
            cpu = Some(cpu.map_or(c, |m| m.max(c)));
        }
        any = Some(any.map_or(c, |m| m.max(c)));
    }
    cpu.or(any)
}

/// One-minute load average.
pub fn load_average() -> Option<f64> {
    System::load_average().ok().map(|l| l.one)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn governor_and_temperature_from_a_fixture_tree() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert_eq!(governor(root), None);
        assert_eq!(temperature_c(root), None);
        let cpufreq = root.join("devices/system/cpu/cpu0/cpufreq");
        fs::create_dir_all(&cpufreq).unwrap();
        fs::write(cpufreq.join("scaling_governor"), "performance\n").unwrap();
        assert_eq!(governor(root).as_deref(), Some("performance"));
        for (zone, kind, temp) in [
            ("thermal_zone0", "acpitz", "60000"),
            ("thermal_zone1", "x86_pkg_temp", "47500"),
            ("thermal_zone2", "iwlwifi_1", "not a number"),
        ] {
            let z = root.join("class/thermal").join(zone);
            fs::create_dir_all(&z).unwrap();
            fs::write(z.join("type"), format!("{kind}\n")).unwrap();
            fs::write(z.join("temp"), format!("{temp}\n")).unwrap();
        }
        // the package sensor wins over the hotter board zone
        assert_eq!(temperature_c(root), Some(47.5));
        fs::remove_dir_all(root.join("class/thermal/thermal_zone1")).unwrap();
        assert_eq!(temperature_c(root), Some(60.0));
    }
}
