//! Energy meters. Counters (RAPL, NVML) are read before and after a window of inferences;
//! a hwmon power rail is sampled on a thread and integrated over time. Every sysfs reader takes
//! its root directory, so tests run them on a fixture tree. Without a sensor the energy comes
//! from the profile's power model and says so (`estimated`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use flash_core::measurement::{Energy, EnergyMethod};
use flash_core::profile::{EnergyConfig, PowerModel, Sensor};

use crate::nvml::Nvml;

#[derive(Debug, thiserror::Error)]
pub enum EnergyError {
    #[error("{path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("no {0} found")]
    NotFound(String),
    #[error("NVML: {0}")]
    Nvml(String),
}

fn read_u64(path: &Path) -> Result<u64, EnergyError> {
    let err = |message: String| EnergyError::Read {
        path: path.to_path_buf(),
        message,
    };
    std::fs::read_to_string(path)
        .map_err(|e| err(e.to_string()))?
        .trim()
        .parse()
        .map_err(|e: std::num::ParseIntError| err(e.to_string()))
}

/// Increase of a counter that wraps to 0 after `max` (RAPL's `max_energy_range_uj`); assumes
/// at most one wrap in the window, which holds for windows of seconds.
pub fn counter_delta(start: u64, end: u64, max: u64) -> u64 {
    if end >= start {
        end - start
    } else {
        max - start + end
    }
}

/// The package domains of RAPL (`intel-rapl:N`; its subzones `intel-rapl:N:M` are parts of
/// the package and would count twice).
#[derive(Debug, Clone)]
pub struct Rapl {
    domains: Vec<RaplDomain>,
}

#[derive(Debug, Clone)]
struct RaplDomain {
    energy: PathBuf,
    max_uj: u64,
}

impl Rapl {
    /// RAPL under `root` (normally `/sys/class/powercap`).
    pub fn open(root: &Path) -> Result<Rapl, EnergyError> {
        let entries = std::fs::read_dir(root).map_err(|e| EnergyError::Read {
            path: root.to_path_buf(),
            message: e.to_string(),
        })?;
        let mut dirs: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_prefix("intel-rapl:"))
                    .is_some_and(|rest| !rest.contains(':'))
            })
            .collect();
        dirs.sort();
        let mut domains = Vec::new();
        for dir in dirs {
            let energy = dir.join("energy_uj");
            // Reading proves the counter is accessible (it is root-only on recent kernels).
            read_u64(&energy)?;
            let max_uj = read_u64(&dir.join("max_energy_range_uj"))?;
            domains.push(RaplDomain { energy, max_uj });
        }
        if domains.is_empty() {
            return Err(EnergyError::NotFound(format!(
                "RAPL package domain under {}",
                root.display()
            )));
        }
        Ok(Rapl { domains })
    }

    fn read(&self) -> Result<Vec<u64>, EnergyError> {
        self.domains.iter().map(|d| read_u64(&d.energy)).collect()
    }

    fn joules_between(&self, start: &[u64], end: &[u64]) -> f64 {
        self.domains
            .iter()
            .zip(start.iter().zip(end))
            .map(|(d, (&s, &e))| counter_delta(s, e, d.max_uj) as f64 * 1e-6)
            .sum()
    }
}

/// A hwmon power rail: the `power*_input` file (microwatts) of the hwmon device whose `name`
/// file matches.
#[derive(Debug, Clone)]
pub struct HwmonRail {
    input: PathBuf,
}

impl HwmonRail {
    /// Finds `name`'s `input` under `root` (normally `/sys/class/hwmon`).
    pub fn open(root: &Path, name: &str, input: &str) -> Result<HwmonRail, EnergyError> {
        let entries = std::fs::read_dir(root).map_err(|e| EnergyError::Read {
            path: root.to_path_buf(),
            message: e.to_string(),
        })?;
        let mut dirs: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        dirs.sort();
        for dir in dirs {
            let matches = std::fs::read_to_string(dir.join("name")).is_ok_and(|n| n.trim() == name);
            if matches && dir.join(input).is_file() {
                let rail = HwmonRail {
                    input: dir.join(input),
                };
                rail.read_w()?;
                return Ok(rail);
            }
        }
        Err(EnergyError::NotFound(format!(
            "hwmon device {name} with {input} under {}",
            root.display()
        )))
    }

    fn read_w(&self) -> Result<f64, EnergyError> {
        Ok(read_u64(&self.input)? as f64 * 1e-6)
    }
}

/// Trapezoidal integral of (seconds, watts) samples, in joules.
pub fn integrate(samples: &[(f64, f64)]) -> f64 {
    samples
        .windows(2)
        .map(|w| (w[1].0 - w[0].0) * (w[0].1 + w[1].1) / 2.0)
        .sum()
}

/// A sensor ready to measure windows.
pub enum Meter {
    Rapl(Rapl),
    Nvml(Nvml),
    Hwmon {
        rail: HwmonRail,
        /// Sampling period of the rail.
        period: Duration,
    },
}

/// A window in progress.
pub enum Window {
    Counters(Vec<u64>),
    Nvml(u64),
    Sampling {
        stop: Arc<AtomicBool>,
        thread: JoinHandle<Result<Vec<(f64, f64)>, EnergyError>>,
    },
}

impl Meter {
    /// The meter the profile names, reading sysfs under `sysfs` (normally `/sys`). `Ok(None)`
    /// when the profile has no sensor.
    pub fn open(config: &EnergyConfig, sysfs: &Path) -> Result<Option<Meter>, EnergyError> {
        Ok(match config.sensor {
            Sensor::None => None,
            Sensor::Rapl => Some(Meter::Rapl(Rapl::open(&sysfs.join("class/powercap"))?)),
            Sensor::Nvml => Some(Meter::Nvml(
                Nvml::load()
                    .map_err(EnergyError::Nvml)?
                    .ok_or_else(|| EnergyError::NotFound("NVML library".into()))?,
            )),
            Sensor::Hwmon => Some(Meter::Hwmon {
                rail: HwmonRail::open(
                    &sysfs.join("class/hwmon"),
                    config.hwmon_name.as_deref().unwrap_or_default(),
                    config.hwmon_input.as_deref().unwrap_or_default(),
                )?,
                period: Duration::from_millis(10),
            }),
        })
    }

    pub fn method(&self) -> EnergyMethod {
        match self {
            Meter::Rapl(_) => EnergyMethod::Rapl,
            Meter::Nvml(_) => EnergyMethod::Nvml,
            Meter::Hwmon { .. } => EnergyMethod::Hwmon,
        }
    }

    pub fn source(&self) -> String {
        match self {
            Meter::Rapl(r) => r
                .domains
                .iter()
                .map(|d| d.energy.display().to_string())
                .collect::<Vec<_>>()
                .join(" + "),
            Meter::Nvml(n) => format!("NVML total energy of {}", n.gpu_name()),
            Meter::Hwmon { rail, .. } => rail.input.display().to_string(),
        }
    }

    pub fn start(&self) -> Result<Window, EnergyError> {
        match self {
            Meter::Rapl(r) => Ok(Window::Counters(r.read()?)),
            Meter::Nvml(n) => Ok(Window::Nvml(
                n.total_energy_mj().map_err(EnergyError::Nvml)?,
            )),
            Meter::Hwmon { rail, period } => {
                let stop = Arc::new(AtomicBool::new(false));
                let (rail, period, flag) = (rail.clone(), *period, stop.clone());
                let thread = std::thread::spawn(move || {
                    let t0 = Instant::now();
                    let mut samples = vec![(0.0, rail.read_w()?)];
                    while !flag.load(Ordering::Relaxed) {
                        std::thread::sleep(period);
                        samples.push((t0.elapsed().as_secs_f64(), rail.read_w()?));
                    }
                    Ok(samples)
                });
                Ok(Window::Sampling { stop, thread })
            }
        }
    }

    /// Joules since `window` started.
    pub fn stop(&self, window: Window) -> Result<f64, EnergyError> {
        match (self, window) {
            (Meter::Rapl(r), Window::Counters(start)) => Ok(r.joules_between(&start, &r.read()?)),
            (Meter::Nvml(n), Window::Nvml(start)) => {
                let end = n.total_energy_mj().map_err(EnergyError::Nvml)?;
                Ok(end.saturating_sub(start) as f64 * 1e-3)
            }
            (Meter::Hwmon { .. }, Window::Sampling { stop, thread }) => {
                stop.store(true, Ordering::Relaxed);
                let samples = thread.join().map_err(|_| EnergyError::Read {
                    path: PathBuf::from("hwmon sampler"),
                    message: "the sampling thread panicked".into(),
                })??;
                Ok(integrate(&samples))
            }
            _ => unreachable!("a window is stopped by the meter that started it"),
        }
    }
}

/// Energy per inference from `joules` over `count` inferences in `window`.
pub fn measured(meter: &Meter, joules: f64, count: u64, window: Duration) -> Energy {
    Energy {
        mj_per_inference: joules * 1e3 / count.max(1) as f64,
        method: meter.method(),
        source: Some(meter.source()),
        window_s: Some(window.as_secs_f64()),
    }
}

/// The power model's estimate for a median latency; labelled `estimated`, never measured.
pub fn estimated(model: &PowerModel, p50_ms: f64, threads: u32) -> Energy {
    Energy {
        mj_per_inference: model.energy_mj(p50_ms, threads),
        method: EnergyMethod::Estimated,
        source: Some(model.source.clone()),
        window_s: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    #[test]
    fn wrap_around() {
        assert_eq!(counter_delta(100, 250, 1000), 150);
        assert_eq!(counter_delta(900, 50, 1000), 150);
        assert_eq!(counter_delta(7, 7, 1000), 0);
    }

    #[test]
    fn rapl_packages_with_a_wrap() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("class/powercap");
        let pkg0 = root.join("intel-rapl:0");
        let pkg1 = root.join("intel-rapl:1");
        write(&pkg0.join("energy_uj"), "262143000000\n");
        write(&pkg0.join("max_energy_range_uj"), "262143328850\n");
        write(&pkg1.join("energy_uj"), "1000000\n");
        write(&pkg1.join("max_energy_range_uj"), "262143328850\n");
        // a subzone (core) must not be added to its package
        write(&root.join("intel-rapl:0:0/energy_uj"), "5\n");
        write(&root.join("intel-rapl:0:0/max_energy_range_uj"), "10\n");
        let config = EnergyConfig {
            sensor: Sensor::Rapl,
            window_s: 1.0,
            hwmon_name: None,
            hwmon_input: None,
        };
        let meter = Meter::open(&config, dir.path()).unwrap().unwrap();
        assert_eq!(meter.method(), EnergyMethod::Rapl);
        let window = meter.start().unwrap();
        // package 0 wraps: 328850 uJ to the top and 671150 past 0 = 1 J; package 1 adds 2.5 J
        write(&pkg0.join("energy_uj"), "671150\n");
        write(&pkg1.join("energy_uj"), "3500000\n");
        let joules = meter.stop(window).unwrap();
        assert!((joules - 3.5).abs() < 1e-9, "{joules}");
        let e = measured(&meter, joules, 700, Duration::from_secs(2));
        assert!((e.mj_per_inference - 5.0).abs() < 1e-9);
        assert_eq!(e.method, EnergyMethod::Rapl);
        assert!(e.source.unwrap().contains("intel-rapl:0/energy_uj"));
    }

    #[test]
    fn missing_or_unreadable_sensors_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Rapl::open(dir.path()).is_err());
        write(&dir.path().join("intel-rapl:0/energy_uj"), "not a number");
        write(&dir.path().join("intel-rapl:0/max_energy_range_uj"), "10");
        assert!(matches!(
            Rapl::open(dir.path()),
            Err(EnergyError::Read { .. })
        ));
        assert!(HwmonRail::open(dir.path(), "ina219", "power1_input").is_err());
        let none = EnergyConfig {
            sensor: Sensor::None,
            window_s: 1.0,
            hwmon_name: None,
            hwmon_input: None,
        };
        assert!(Meter::open(&none, dir.path()).unwrap().is_none());
    }

    #[test]
    fn hwmon_rail_integrates_power() {
        let dir = tempfile::tempdir().unwrap();
        let hwmon = dir.path().join("class/hwmon");
        write(&hwmon.join("hwmon0/name"), "cpu_thermal\n");
        write(&hwmon.join("hwmon0/temp1_input"), "45000\n");
        write(&hwmon.join("hwmon1/name"), "ina219\n");
        write(&hwmon.join("hwmon1/power1_input"), "2500000\n");
        let config = EnergyConfig {
            sensor: Sensor::Hwmon,
            window_s: 0.05,
            hwmon_name: Some("ina219".into()),
            hwmon_input: Some("power1_input".into()),
        };
        let meter = Meter::open(&config, dir.path()).unwrap().unwrap();
        assert_eq!(meter.method(), EnergyMethod::Hwmon);
        let started = Instant::now();
        let window = meter.start().unwrap();
        std::thread::sleep(Duration::from_millis(60));
        let joules = meter.stop(window).unwrap();
        let took = started.elapsed().as_secs_f64();
        // a constant 2.5 W over the sampled span, which lies within the window
        assert!(
            joules > 2.5 * 0.05 && joules <= 2.5 * took + 1e-9,
            "{joules} J in {took} s"
        );
        // piecewise: 1 W for 1 s then a ramp to 3 W over 1 s
        assert_eq!(integrate(&[(0.0, 1.0), (1.0, 1.0), (2.0, 3.0)]), 3.0);
    }

    #[test]
    fn estimate_is_labelled() {
        let model = PowerModel {
            static_w: 1.3,
            per_thread_w: 0.6,
            source: "board figures".into(),
        };
        let e = estimated(&model, 100.0, 4);
        assert!((e.mj_per_inference - 370.0).abs() < 1e-9);
        assert_eq!(e.method, EnergyMethod::Estimated);
        assert!(!e.method.is_measured());
        assert_eq!(e.window_s, None);
    }
}
