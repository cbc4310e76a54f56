//! NVIDIA's management library, opened at run time: GPU name, driver, memory and the
//! total-energy counter of GPU 0. A host without the library (or without a GPU) simply has no
//! NVIDIA GPU; that is not an error.

use std::ffi::{CStr, c_char, c_int, c_uint, c_ulonglong, c_void};

use flash_core::measurement::GpuInfo;

type Device = *mut c_void;
type Return = c_int;

#[repr(C)]
struct Memory {
    total: c_ulonglong,
    free: c_ulonglong,
    used: c_ulonglong,
}

/// The library names the NVIDIA driver installs.
const LIBRARIES: &[&str] = &["libnvidia-ml.so.1", "libnvidia-ml.so"];

pub struct Nvml {
    lib: libloading::Library,
    device: Device,
    name: String,
}

// SAFETY: NVML is thread-safe (its documentation: all functions may be called from any
// thread); the device handle is an opaque token valid until nvmlShutdown, called in Drop.
unsafe impl Send for Nvml {}

impl Nvml {
    /// GPU 0 through the installed NVML; `Ok(None)` without the library, a driver or a GPU.
    pub fn load() -> Result<Option<Nvml>, String> {
        Nvml::load_from(LIBRARIES)
    }

    pub fn load_from(names: &[&str]) -> Result<Option<Nvml>, String> {
        // SAFETY: loading the NVIDIA library runs no initialisers with preconditions.
        let Some(lib) = names
            .iter()
            .find_map(|&n| unsafe { libloading::Library::new(n) }.ok())
        else {
            return Ok(None);
        };
        // SAFETY: the symbols have these C signatures in every NVML since the v2 entry points
        // (driver 325); pointers passed are valid for the calls.
        unsafe {
            let init: libloading::Symbol<'_, unsafe extern "C" fn() -> Return> =
                lib.get(b"nvmlInit_v2").map_err(|e| e.to_string())?;
            if init() != 0 {
                // Library without a loaded driver: no usable GPU.
                return Ok(None);
            }
            let by_index: libloading::Symbol<
                '_,
                unsafe extern "C" fn(c_uint, *mut Device) -> Return,
            > = lib
                .get(b"nvmlDeviceGetHandleByIndex_v2")
                .map_err(|e| e.to_string())?;
            let mut device: Device = std::ptr::null_mut();
            if by_index(0, &mut device) != 0 {
                shutdown(&lib);
                return Ok(None);
            }
            let get_name: libloading::Symbol<
                '_,
                unsafe extern "C" fn(Device, *mut c_char, c_uint) -> Return,
            > = lib.get(b"nvmlDeviceGetName").map_err(|e| e.to_string())?;
            let mut buf = [0 as c_char; 96];
            let name = if get_name(device, buf.as_mut_ptr(), buf.len() as c_uint) == 0 {
                CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned()
            } else {
                "NVIDIA GPU".to_string()
            };
            Ok(Some(Nvml { lib, device, name }))
        }
    }

    pub fn gpu_name(&self) -> &str {
        &self.name
    }

    /// Name, driver version and memory of GPU 0.
    pub fn info(&self) -> GpuInfo {
        // SAFETY: as in load_from; buffers are sized as NVML documents (80 for the driver).
        unsafe {
            let driver = self
                .lib
                .get::<unsafe extern "C" fn(*mut c_char, c_uint) -> Return>(
                    b"nvmlSystemGetDriverVersion",
                )
                .ok()
                .and_then(|f| {
                    let mut buf = [0 as c_char; 80];
                    (f(buf.as_mut_ptr(), buf.len() as c_uint) == 0)
                        .then(|| CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned())
                });
            let memory_bytes = self
                .lib
                .get::<unsafe extern "C" fn(Device, *mut Memory) -> Return>(
                    b"nvmlDeviceGetMemoryInfo",
                )
                .ok()
                .and_then(|f| {
                    let mut m = Memory {
                        total: 0,
                        free: 0,
                        used: 0,
                    };
                    (f(self.device, &mut m) == 0).then_some(m.total)
                });
            GpuInfo {
                name: self.name.clone(),
                driver,
                memory_bytes,
            }
        }
    }

    /// Millijoules consumed by GPU 0 since the driver was loaded (Volta and later).
    pub fn total_energy_mj(&self) -> Result<u64, String> {
        // SAFETY: as in load_from.
        unsafe {
            let f = self
                .lib
                .get::<unsafe extern "C" fn(Device, *mut c_ulonglong) -> Return>(
                    b"nvmlDeviceGetTotalEnergyConsumption",
                )
                .map_err(|e| e.to_string())?;
            let mut mj: c_ulonglong = 0;
            match f(self.device, &mut mj) {
                0 => Ok(mj),
                code => Err(format!(
                    "nvmlDeviceGetTotalEnergyConsumption failed with code {code} \
                     (the GPU may predate Volta)"
                )),
            }
        }
    }
}

unsafe fn shutdown(lib: &libloading::Library) {
    // SAFETY: called once after a successful nvmlInit_v2.
    unsafe {
        if let Ok(f) = lib.get::<unsafe extern "C" fn() -> Return>(b"nvmlShutdown") {
            f();
        }
    }
}

impl Drop for Nvml {
    fn drop(&mut self) {
        // SAFETY: self exists only after a successful init.
        unsafe { shutdown(&self.lib) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_library_means_no_gpu() {
        assert!(
            Nvml::load_from(&["libnvidia-ml-absent.so.1"])
                .unwrap()
                .is_none()
        );
    }
}
