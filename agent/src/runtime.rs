//! ONNX Runtime, loaded at run time: finding the shared library, the one environment of the
//! process, sessions with a given provider and thread count, and single timed runs.

use std::ffi::{CStr, c_char, c_int};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use ort::environment::Environment;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::{Session, SessionInputValue};
use ort::value::{DynTensor, Tensor, TensorElementType, ValueType};

/// The ONNX Runtime release the agent is built against (`ort` feature `api-31`).
pub const ORT_VERSION: &str = "1.31.1";
pub const LIBRARY_FILE: &str = "libonnxruntime.so.1.31.1";

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(
        "ONNX Runtime {ORT_VERSION} not found (looked for {tried}). Fetch it with \
         `scripts/fetch-onnxruntime.sh` (add `--gpu` for CUDA, `--arch aarch64` for ARM) from \
         the repository root, or set ORT_DYLIB_PATH to a {LIBRARY_FILE}"
    )]
    Missing { tried: String },
    #[error("loading ONNX Runtime from {path}: {message}")]
    Init { path: PathBuf, message: String },
    #[error("execution provider {wanted} is not available (this ONNX Runtime has {available})")]
    Provider { wanted: String, available: String },
    #[error("loading the model: {0}")]
    Load(String),
    #[error("running the model: {0}")]
    Run(String),
}

/// The execution provider of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Cpu,
    Cuda,
}

impl Provider {
    /// From a protocol's `provider` (`cpu` or `cuda`).
    pub fn parse(name: &str) -> Option<Provider> {
        match name {
            "cpu" => Some(Provider::Cpu),
            "cuda" => Some(Provider::Cuda),
            _ => None,
        }
    }

    pub fn ort_name(self) -> &'static str {
        match self {
            Provider::Cpu => "CPUExecutionProvider",
            Provider::Cuda => "CUDAExecutionProvider",
        }
    }
}

/// `x86_64` or `aarch64`: the directory under `.ort/` the fetch script writes.
pub fn arch_dir() -> &'static str {
    std::env::consts::ARCH
}

/// Where the library is: `ORT_DYLIB_PATH` when set (it must exist), else next to the agent's
/// binary, else `.ort/<arch>/` (or `.ort/<arch>-gpu/`, first when `prefer_gpu`) in `cwd` or
/// one of its parents, so the agent and its tests find a repository checkout's copy.
pub fn locate_library(
    env_path: Option<&Path>,
    exe_dir: Option<&Path>,
    cwd: &Path,
    prefer_gpu: bool,
) -> Result<PathBuf, RuntimeError> {
    if let Some(p) = env_path {
        return if p.is_file() {
            Ok(p.to_path_buf())
        } else {
            Err(RuntimeError::Missing {
                tried: format!("ORT_DYLIB_PATH={}", p.display()),
            })
        };
    }
    let mut candidates = Vec::new();
    if let Some(dir) = exe_dir {
        candidates.push(dir.join(LIBRARY_FILE));
    }
    let cpu = arch_dir().to_string();
    let gpu = format!("{cpu}-gpu");
    let dirs = if prefer_gpu { [gpu, cpu] } else { [cpu, gpu] };
    for ancestor in cwd.ancestors() {
        for d in &dirs {
            candidates.push(ancestor.join(".ort").join(d).join(LIBRARY_FILE));
        }
    }
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| RuntimeError::Missing {
            tried: match exe_dir {
                Some(dir) => format!(
                    "ORT_DYLIB_PATH, {}, .ort/{}/ under {} and its parents",
                    dir.join(LIBRARY_FILE).display(),
                    arch_dir(),
                    cwd.display()
                ),
                None => format!(
                    "ORT_DYLIB_PATH, .ort/{}/ under {} and its parents",
                    arch_dir(),
                    cwd.display()
                ),
            },
        })
}

/// [`locate_library`] with this process's environment, binary and working directory.
pub fn locate_library_here(prefer_gpu: bool) -> Result<PathBuf, RuntimeError> {
    let env_path = std::env::var_os("ORT_DYLIB_PATH")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from);
    let exe = std::env::current_exe().ok();
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    locate_library(
        env_path.as_deref(),
        exe.as_deref().and_then(Path::parent),
        &cwd,
        prefer_gpu,
    )
}

/// The loaded library and its environment; one per process.
pub struct Runtime {
    environment: Environment,
    pub library: PathBuf,
    pub version: String,
    /// Execution providers compiled into the library (`CPUExecutionProvider`, ...).
    pub providers: Vec<String>,
}

static RUNTIME: OnceLock<Runtime> = OnceLock::new();
static INIT: Mutex<()> = Mutex::new(());

impl Runtime {
    /// Loads the library at `path` once; later calls return the same runtime whatever the path.
    pub fn load(path: &Path) -> Result<&'static Runtime, RuntimeError> {
        let _guard = INIT.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(rt) = RUNTIME.get() {
            return Ok(rt);
        }
        let init = |message: String| RuntimeError::Init {
            path: path.to_path_buf(),
            message,
        };
        let version = library_version(path).map_err(init)?;
        let environment = ort::init_from(path)
            .map_err(|e| init(e.to_string()))?
            .with_name("flash-agent")
            .build()
            .map_err(|e| init(e.to_string()))?;
        let providers = available_providers().map_err(init)?;
        Ok(RUNTIME.get_or_init(|| Runtime {
            environment,
            library: path.to_path_buf(),
            version,
            providers,
        }))
    }

    pub fn has_provider(&self, provider: Provider) -> bool {
        self.providers.iter().any(|p| p == provider.ort_name())
    }

    /// A session over `model` with `threads` intra-op threads on `provider`. CUDA must be in
    /// the library: a CPU fallback would measure the wrong device.
    pub fn model(
        &self,
        model: &[u8],
        threads: u32,
        provider: Provider,
    ) -> Result<Model, RuntimeError> {
        if !self.has_provider(provider) {
            return Err(RuntimeError::Provider {
                wanted: provider.ort_name().into(),
                available: self.providers.join(", "),
            });
        }
        let load = |e: ort::Error<_>| RuntimeError::Load(e.to_string());
        let mut builder = Session::builder(&self.environment)
            .map_err(|e| RuntimeError::Load(e.to_string()))?
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(load)?
            .with_intra_threads(threads as usize)
            .map_err(load)?
            .with_inter_threads(1)
            .map_err(load)?;
        if provider == Provider::Cuda {
            builder = builder
                .with_execution_providers([ort::ep::CUDA::default().build().error_on_failure()])
                .map_err(load)?;
        }
        let session = builder
            .commit_from_memory(model)
            .map_err(|e| RuntimeError::Load(e.to_string()))?;
        let inputs = session
            .inputs()
            .iter()
            .map(|outlet| input_tensor(outlet.name(), outlet.dtype()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Model { session, inputs })
    }
}

/// A session with its inputs ready: every run feeds the same tensors.
pub struct Model {
    session: Session,
    inputs: Vec<DynTensor>,
}

impl Model {
    /// One inference, timed around `Session::run` alone.
    pub fn run(&mut self) -> Result<Duration, RuntimeError> {
        let values: Vec<SessionInputValue<'_>> =
            self.inputs.iter().map(SessionInputValue::from).collect();
        let start = Instant::now();
        let outputs = self
            .session
            .run(values.as_slice())
            .map_err(|e| RuntimeError::Run(e.to_string()))?;
        let elapsed = start.elapsed();
        drop(outputs);
        Ok(elapsed)
    }

    /// Runs once and returns the first output's shape and values, to check what a model
    /// computes (not timed).
    pub fn first_output(&mut self) -> Result<(Vec<i64>, Vec<f32>), RuntimeError> {
        let values: Vec<SessionInputValue<'_>> =
            self.inputs.iter().map(SessionInputValue::from).collect();
        let outputs = self
            .session
            .run(values.as_slice())
            .map_err(|e| RuntimeError::Run(e.to_string()))?;
        let (shape, data) = outputs[0]
            .try_extract_tensor::<f32>()
            .map_err(|e| RuntimeError::Run(e.to_string()))?;
        Ok((shape.iter().copied().collect(), data.to_vec()))
    }
}

/// A float32 tensor of the input's shape (dynamic dimensions as 1) with deterministic values.
fn input_tensor(name: &str, dtype: &ValueType) -> Result<DynTensor, RuntimeError> {
    let (ty, shape) = match dtype {
        ValueType::Tensor { ty, shape, .. } => (*ty, shape),
        other => {
            return Err(RuntimeError::Load(format!(
                "input {name} is {other:?}, only tensors are supported"
            )));
        }
    };
    if ty != TensorElementType::Float32 {
        return Err(RuntimeError::Load(format!(
            "input {name} is {ty:?}, only float32 inputs are supported"
        )));
    }
    let dims: Vec<i64> = shape.iter().map(|&d| if d < 0 { 1 } else { d }).collect();
    let len: i64 = dims.iter().product();
    let data: Vec<f32> = (0..len).map(|i| ((i % 251) as f32) / 251.0 - 0.5).collect();
    Tensor::from_array((dims, data))
        .map(Tensor::upcast)
        .map_err(|e| RuntimeError::Load(e.to_string()))
}

/// The library's own version string (`OrtGetApiBase()->GetVersionString()`).
fn library_version(path: &Path) -> Result<String, String> {
    type GetApiBase = unsafe extern "C" fn() -> *const ort::sys::OrtApiBase;
    // SAFETY: loading ONNX Runtime runs no initialisers with preconditions; the symbol has the
    // C signature above in every release, and the version string is static in the library,
    // copied before the handle is dropped (ort keeps its own handle open).
    unsafe {
        let lib = libloading::Library::new(path).map_err(|e| e.to_string())?;
        let get: libloading::Symbol<'_, GetApiBase> = lib
            .get(b"OrtGetApiBase")
            .map_err(|_| format!("{} is not an ONNX Runtime library", path.display()))?;
        let base = get();
        if base.is_null() {
            return Err("OrtGetApiBase returned null".into());
        }
        let version = ((*base).GetVersionString)();
        Ok(CStr::from_ptr(version).to_string_lossy().into_owned())
    }
}

/// `GetAvailableProviders` of the loaded library.
fn available_providers() -> Result<Vec<String>, String> {
    let api = ort::api();
    let mut list: *mut *mut c_char = std::ptr::null_mut();
    let mut n: c_int = 0;
    // SAFETY: the API is initialised (ort::api() loaded it); the out-pointers are valid, a
    // non-null status is released after reading its message, and the list is released once
    // its strings have been copied.
    unsafe {
        let status = (api.GetAvailableProviders)(&mut list, &mut n);
        if !status.0.is_null() {
            let message = CStr::from_ptr((api.GetErrorMessage)(status.0))
                .to_string_lossy()
                .into_owned();
            (api.ReleaseStatus)(status.0);
            return Err(message);
        }
        let providers = (0..n.max(0) as usize)
            .map(|i| CStr::from_ptr(*list.add(i)).to_string_lossy().into_owned())
            .collect();
        let status = (api.ReleaseAvailableProviders)(list, n);
        if !status.0.is_null() {
            (api.ReleaseStatus)(status.0);
        }
        Ok(providers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_lookup_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let nested = root.join("a/b");
        std::fs::create_dir_all(&nested).unwrap();
        let missing = locate_library(None, Some(root), &nested, false).unwrap_err();
        assert!(
            missing.to_string().contains("scripts/fetch-onnxruntime.sh"),
            "{missing}"
        );

        let cpu = root.join(".ort").join(arch_dir());
        let gpu = root.join(".ort").join(format!("{}-gpu", arch_dir()));
        for d in [&cpu, &gpu] {
            std::fs::create_dir_all(d).unwrap();
            std::fs::write(d.join(LIBRARY_FILE), b"").unwrap();
        }
        assert_eq!(
            locate_library(None, None, &nested, false).unwrap(),
            cpu.join(LIBRARY_FILE)
        );
        assert_eq!(
            locate_library(None, None, &nested, true).unwrap(),
            gpu.join(LIBRARY_FILE)
        );
        let exe_dir = root.join("bin");
        std::fs::create_dir_all(&exe_dir).unwrap();
        std::fs::write(exe_dir.join(LIBRARY_FILE), b"").unwrap();
        assert_eq!(
            locate_library(None, Some(&exe_dir), &nested, false).unwrap(),
            exe_dir.join(LIBRARY_FILE)
        );
        let explicit = root.join("custom.so");
        assert!(matches!(
            locate_library(Some(&explicit), Some(&exe_dir), &nested, false),
            Err(RuntimeError::Missing { .. })
        ));
        std::fs::write(&explicit, b"").unwrap();
        assert_eq!(
            locate_library(Some(&explicit), Some(&exe_dir), &nested, false).unwrap(),
            explicit
        );
    }
}
