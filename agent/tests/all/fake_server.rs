//! The agent end to end against a small fake of the service's agent API (a thread on a
//! loopback port), with overload replies, an outage and a lost lease.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flash_agent::agent::{self, Config, Summary};
use flash_agent::runtime;
use flash_client::RetryPolicy;
use flash_core::profile::Profile;
use serde_json::{Value, json};

const TINY: &[u8] = include_bytes!("../fixtures/tiny.onnx");

#[derive(Debug, Clone)]
struct Request {
    method: String,
    path: String,
    body: Value,
}

struct Reply {
    status: u16,
    retry_after: Option<u64>,
    body: Vec<u8>,
}

fn reply(status: u16, body: Value) -> Reply {
    Reply {
        status,
        retry_after: None,
        body: if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        },
    }
}

fn busy(status: u16) -> Reply {
    Reply {
        status,
        retry_after: Some(0),
        body: Vec::new(),
    }
}

type Handler = dyn Fn(&Request, usize) -> Reply + Send + Sync;

/// Serves `handler` (given the request and how many times its method and path were seen
/// before) on a loopback port; returns the base URL and the log of requests.
fn serve(handler: Box<Handler>) -> (String, Arc<Mutex<Vec<Request>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen_log = log.clone();
    std::thread::spawn(move || {
        let mut seen: HashMap<String, usize> = HashMap::new();
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let mut parts = line.split_whitespace();
            let (method, path) = (
                parts.next().unwrap_or("").to_string(),
                parts.next().unwrap_or("").to_string(),
            );
            let mut length = 0;
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).unwrap();
                if header.trim().is_empty() {
                    break;
                }
                let (k, v) = header.split_once(':').unwrap();
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap();
                }
                if k.eq_ignore_ascii_case("authorization") {
                    assert_eq!(v.trim(), "Bearer secret");
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let request = Request {
                method,
                path,
                body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            };
            let key = format!("{} {}", request.method, request.path);
            let n = *seen.get(&key).unwrap_or(&0);
            seen.insert(key, n + 1);
            let r = handler(&request, n);
            seen_log.lock().unwrap().push(request);
            let retry = r
                .retry_after
                .map(|s| format!("Retry-After: {s}\r\n"))
                .unwrap_or_default();
            let head = format!(
                "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{retry}Connection: close\r\n\r\n",
                r.status,
                r.body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&r.body);
        }
    });
    (base, log)
}

fn job(lease_seconds: u64, protocol: Value) -> Value {
    json!({
        "id": "job-1", "architecture_id": "arch-1", "device": "dev", "attempt": 1,
        "lease_expires_at": "2026-01-01T00:00:30Z", "lease_seconds": lease_seconds,
        "protocol": protocol, "spec": null
    })
}

/// The usual replies; `claims` are the bodies of successive claims (then 204).
fn service(req: &Request, n: usize, claims: &[Value]) -> Reply {
    match (req.method.as_str(), req.path.as_str()) {
        ("PUT", "/v1/devices/dev") => reply(201, json!({})),
        ("POST", "/v1/devices/dev/heartbeat") => reply(200, json!({})),
        ("POST", "/v1/jobs/claim") => match claims.get(n) {
            Some(job) => reply(200, job.clone()),
            None => reply(204, Value::Null),
        },
        ("GET", "/v1/architectures/arch-1/onnx") => Reply {
            status: 200,
            retry_after: None,
            body: TINY.to_vec(),
        },
        ("POST", "/v1/jobs/job-1/heartbeat" | "/v1/jobs/job-1/complete") => reply(200, json!({})),
        _ => reply(404, json!({"title": "Not Found", "detail": req.path})),
    }
}

fn config(server: &str, state_dir: &Path, sysfs: &Path) -> Config {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../profiles/x86-host.toml"),
    )
    .unwrap();
    Config {
        server: server.into(),
        token: "secret".into(),
        device: "dev".into(),
        profile: Profile::parse(&text).unwrap(),
        library: runtime::locate_library_here(false).unwrap_or_else(|e| panic!("{e}")),
        state_dir: state_dir.into(),
        once: true,
        max_jobs: None,
        poll_interval: Duration::from_millis(20),
        device_heartbeat_interval: Duration::from_millis(200),
        sysfs: sysfs.into(),
        retry: RetryPolicy {
            first_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            give_up_after: Duration::from_millis(300),
        },
    }
}

fn quick() -> Value {
    json!({"threads": 1, "time_budget_s": 0.3, "min_runs": 5})
}

fn requests(log: &Mutex<Vec<Request>>, path: &str) -> Vec<Request> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|r| r.path == path)
        .cloned()
        .collect()
}

#[test]
fn measures_a_job_through_overload_replies() {
    let claims = [job(30, quick())];
    let (base, log) = serve(Box::new(move |req, n| {
        match (req.path.as_str(), n) {
            // every first call is refused as overloaded once: the agent honours Retry-After
            ("/v1/devices/dev" | "/v1/jobs/claim" | "/v1/jobs/job-1/complete", 0) => busy(503),
            ("/v1/jobs/claim", n) => service(req, n - 1, &claims),
            _ => service(req, n, &claims),
        }
    }));
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let summary = agent::run(
        &config(&base, dirs.0.path(), dirs.1.path()),
        &Arc::new(AtomicBool::new(false)),
    )
    .unwrap();
    assert_eq!(
        summary,
        Summary {
            jobs: 1,
            completed: 1,
            ..Summary::default()
        }
    );
    let register = requests(&log, "/v1/devices/dev");
    assert_eq!(register.len(), 2);
    assert_eq!(register[1].body["profile"], "x86-host");
    assert_eq!(register[1].body["runtime"]["version"], runtime::ORT_VERSION);
    let complete = requests(&log, "/v1/jobs/job-1/complete");
    assert_eq!(complete.len(), 2);
    let body = &complete[1].body;
    assert_eq!(body["attempt"], 1);
    assert!(body["result"]["latency"]["n"].as_u64().unwrap() >= 5);
    assert_eq!(body["result"]["environment"]["threads"], 1);
    assert_eq!(body["result"]["energy"]["method"], "estimated");
    assert!(
        std::fs::read_dir(dirs.0.path().join("pending"))
            .unwrap()
            .next()
            .is_none()
    );
}

#[test]
fn a_report_waits_on_disk_until_the_server_takes_it() {
    let claims = [job(30, quick())];
    let (down, _) = serve(Box::new(move |req, n| {
        if req.path == "/v1/jobs/job-1/complete" {
            busy(503)
        } else {
            service(req, n, &claims)
        }
    }));
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let summary = agent::run(&config(&down, dirs.0.path(), dirs.1.path()), &stop).unwrap();
    assert_eq!(
        (summary.jobs, summary.completed, summary.undelivered),
        (1, 0, 1)
    );
    let kept: Vec<_> = std::fs::read_dir(dirs.0.path().join("pending"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(kept, ["job-1.1.json"]);

    // a later start against a healthy server delivers it before claiming
    let (up, log) = serve(Box::new(|req, n| service(req, n, &[])));
    let summary = agent::run(&config(&up, dirs.0.path(), dirs.1.path()), &stop).unwrap();
    assert_eq!(
        (summary.jobs, summary.completed, summary.undelivered),
        (0, 1, 0)
    );
    let complete = requests(&log, "/v1/jobs/job-1/complete");
    assert_eq!(complete.len(), 1);
    assert_eq!(complete[0].body["attempt"], 1);
    let paths: Vec<String> = log.lock().unwrap().iter().map(|r| r.path.clone()).collect();
    let completed_at = paths.iter().position(|p| p.ends_with("/complete")).unwrap();
    let claimed_at = paths.iter().position(|p| p == "/v1/jobs/claim").unwrap();
    assert!(completed_at < claimed_at, "{paths:?}");
}

#[test]
fn a_lost_lease_abandons_the_job() {
    // a 3 s lease is heartbeated every second; a million timed runs take longer than that
    let claims = [job(
        3,
        json!({"threads": 1, "time_budget_s": 3.0, "min_runs": 1_000_000}),
    )];
    let (base, log) = serve(Box::new(move |req, n| {
        if req.path == "/v1/jobs/job-1/heartbeat" {
            reply(409, json!({"title": "Conflict", "detail": "lease lost"}))
        } else {
            service(req, n, &claims)
        }
    }));
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let started = std::time::Instant::now();
    let summary = agent::run(
        &config(&base, dirs.0.path(), dirs.1.path()),
        &Arc::new(AtomicBool::new(false)),
    )
    .unwrap();
    assert_eq!(
        (summary.jobs, summary.abandoned, summary.completed),
        (1, 1, 0)
    );
    assert!(started.elapsed() < Duration::from_millis(2500));
    assert_eq!(requests(&log, "/v1/jobs/job-1/heartbeat").len(), 1);
    assert!(requests(&log, "/v1/jobs/job-1/complete").is_empty());
    assert!(requests(&log, "/v1/jobs/job-1/fail").is_empty());
}

#[test]
fn sigterm_finishes_and_reports_the_current_job_then_exits_0() {
    let claims = [
        job(
            30,
            json!({"threads": 1, "time_budget_s": 1.0, "min_runs": 2000}),
        ),
        job(30, quick()),
    ];
    let pid: Arc<Mutex<Option<u32>>> = Arc::default();
    let signal_pid = pid.clone();
    let (base, log) = serve(Box::new(move |req, n| {
        if req.path == "/v1/architectures/arch-1/onnx" {
            // the job is claimed: ask the agent to stop while it measures
            let pid = signal_pid.lock().unwrap().expect("agent started");
            std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .unwrap();
        }
        service(req, n, &claims)
    }));
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let library = runtime::locate_library_here(false).unwrap_or_else(|e| panic!("{e}"));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_flash-agent"))
        .args(["--server", &base, "--token", "secret", "--device", "dev"])
        .args(["--profile", "x86-host", "--poll-interval-s", "0.05"])
        .arg("--profiles-dir")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../profiles"))
        .arg("--state-dir")
        .arg(dirs.0.path())
        .arg("--sysfs")
        .arg(dirs.1.path())
        .env("ORT_DYLIB_PATH", library)
        .env("FLASH_LOG", "warn")
        .spawn()
        .unwrap();
    *pid.lock().unwrap() = Some(child.id());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    assert_eq!(requests(&log, "/v1/jobs/claim").len(), 1);
    let complete = requests(&log, "/v1/jobs/job-1/complete");
    assert_eq!(complete.len(), 1);
    assert!(complete[0].body["result"]["latency"]["n"].as_u64().unwrap() >= 2000);
}

#[test]
fn a_job_with_a_spec_measures_cores_export_when_the_download_fails() {
    let spec: Value = serde_json::from_str(
        r#"{"space":"flash-densenet","input_shape":[3,32,32],"num_classes":10,"cells":[{"width":32,"depth":8,"tc":16},{"width":64,"depth":8,"tc":32},{"width":128,"depth":8,"tc":64}]}"#,
    )
    .unwrap();
    let exported = flash_core::onnx::export_spec(&serde_json::from_value(spec.clone()).unwrap());
    let mut claimed = job(30, quick());
    claimed["spec"] = spec;
    let claims = [claimed];
    let (base, log) = serve(Box::new(move |req, n| {
        if req.path == "/v1/architectures/arch-1/onnx" {
            reply(
                404,
                json!({"title": "Not Found", "detail": "no model stored"}),
            )
        } else {
            service(req, n, &claims)
        }
    }));
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let summary = agent::run(
        &config(&base, dirs.0.path(), dirs.1.path()),
        &Arc::new(AtomicBool::new(false)),
    )
    .unwrap();
    assert_eq!((summary.jobs, summary.completed), (1, 1));
    let complete = requests(&log, "/v1/jobs/job-1/complete");
    let sha = complete[0].body["result"]["environment"]["onnx_sha256"]
        .as_str()
        .unwrap()
        .to_string();
    use sha2::Digest;
    assert_eq!(sha, hex::encode(sha2::Sha256::digest(&exported)));
}
