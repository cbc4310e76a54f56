//! Faults against a real server and real agents measuring sampled architectures: the server
//! SIGKILLed mid-work and restarted on the same store, agents killed mid-job, a full or
//! read-only disk under the SQLite store, and Postgres stopped and started under a running
//! server. After each, the books are checked: every job succeeded once with exactly one
//! measurement, and nothing acknowledged was lost.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::live::{Api, free_port, read_admin_token, wait_for};
use crate::common::{ServerProcess, TestDatabase, flash_cli, start_agent, start_agent_with};
use serde_json::{Value, json};

/// What the faults' checks ask of the live API beyond the shared calls.
impl Api {
    fn job(&self, id: &str) -> Value {
        self.get(&format!("/v1/jobs/{id}"))
    }

    /// The id of a job running on `device`, once there is one.
    fn running_job(&self, device: &str) -> String {
        let path = format!("/v1/jobs?state=running&device={device}");
        wait_for("a running job", Duration::from_secs(60), || {
            !self.items(&path).is_empty()
        });
        self.items(&path)[0]["id"].as_str().unwrap().to_string()
    }

    fn wait_all_finished(&self, device: &str, timeout: Duration) {
        let path = format!("/v1/jobs?device={device}");
        wait_for("every job to finish", timeout, || {
            self.items(&path)
                .iter()
                .all(|j| j["state"] == "succeeded" || j["state"] == "failed")
        });
    }

    /// Every job on `device` succeeded with exactly one measurement; returns the jobs and the
    /// measurements.
    fn check_books(&self, device: &str, n: usize) -> (Vec<Value>, Vec<Value>) {
        let jobs = self.items(&format!("/v1/jobs?device={device}"));
        assert_eq!(jobs.len(), n);
        assert!(jobs.iter().all(|j| j["state"] == "succeeded"), "{jobs:#?}");
        let measurements = self.items(&format!("/v1/measurements?device={device}"));
        assert_eq!(measurements.len(), n, "exactly one measurement per job");
        for job in &jobs {
            let of_job = measurements
                .iter()
                .filter(|m| m["job_id"] == job["id"])
                .count();
            assert_eq!(of_job, 1, "job {} has {of_job} measurements", job["id"]);
        }
        (jobs, measurements)
    }
}

/// Finished reports the agent keeps on disk until the server acknowledges them.
fn pending_reports(state: &Path) -> usize {
    std::fs::read_dir(state.join("pending")).map_or(0, |entries| {
        entries
            .filter_map(Result::ok)
            .filter(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.ends_with(".json") && !name.starts_with('.')
            })
            .count()
    })
}

fn create_agent_token(store: &[&str]) -> String {
    let mut args = vec!["token", "create", "--scope", "agent", "--name", "faults"];
    args.extend_from_slice(store);
    flash_cli(&args).trim().to_string()
}

fn kill(mut child: std::process::Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

/// SIGKILLs the server while an agent is measuring, restarts it on the same store and port,
/// and checks that acknowledged measurements survived and the agent's report landed once.
fn server_killed_mid_work(store: &[&str], data: &Path, state: &Path) {
    let device = "faults-restart";
    let listen = format!("127.0.0.1:{}", free_port());
    let mut server = ServerProcess::start_on(&listen, store);
    let api = Api::new(&server.base, &read_admin_token(data));
    // Short retries, so that a report made while the server is away goes to disk at once.
    let agent = start_agent_with(
        &server.base,
        &create_agent_token(store),
        device,
        state,
        &["--retry-for-s", "2"],
    );
    api.wait_device(device);
    // Jobs run in order: one quick job measured before the kill, a long one the kill lands
    // in, and more after the restart.
    api.queue_jobs(device, 1, 21, 0.5);
    let long = api.queue_jobs(device, 1, 22, 5.0).remove(0);
    api.queue_jobs(device, 4, 23, 0.5);

    wait_for("the long job to run", Duration::from_secs(120), || {
        api.job(&long)["state"] == "running"
    });
    let measured = format!("/v1/measurements?device={device}");
    let acknowledged: Vec<Value> = api
        .items(&measured)
        .iter()
        .map(|m| m["id"].clone())
        .collect();
    assert_eq!(acknowledged.len(), 1, "the first job was measured");
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    // The long job finishes while the server is away; its report waits on disk.
    wait_for(
        "the agent to keep a report on disk",
        Duration::from_secs(60),
        || pending_reports(state) > 0,
    );
    drop(server);

    let server = ServerProcess::start_on(&listen, store);
    api.wait_all_finished(device, Duration::from_secs(180));
    wait_for(
        "the agent to deliver its reports",
        Duration::from_secs(60),
        || pending_reports(state) == 0,
    );
    kill(agent);

    let (_, measurements) = api.check_books(device, 6);
    for id in &acknowledged {
        assert!(
            measurements.iter().any(|m| &m["id"] == id),
            "acknowledged measurement {id} lost"
        );
    }
    assert_eq!(
        api.job(&long)["attempt"],
        1,
        "the report made while the server was away was accepted for the attempt that made it"
    );
    drop(server);
}

#[test]
fn server_sigkilled_mid_work_restarts_on_the_same_sqlite_store() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    server_killed_mid_work(
        &["--data-dir", data.to_str().unwrap()],
        &data,
        &dir.path().join("agent"),
    );
}

#[test]
fn server_sigkilled_mid_work_restarts_on_the_same_postgres_store() {
    let db = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(TestDatabase::create());
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    server_killed_mid_work(
        &[
            "--database-url",
            &db.url,
            "--data-dir",
            data.to_str().unwrap(),
        ],
        &data,
        &dir.path().join("agent"),
    );
}

#[test]
fn killed_agents_job_completes_on_another_agent_after_its_lease() {
    const JOBS: usize = 3;
    let device = "faults-handover";
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let store = ["--data-dir", data.to_str().unwrap()];
    let server = ServerProcess::start(&[store[0], store[1], "--lease-seconds", "2"]);
    let api = Api::new(&server.base, &read_admin_token(&data));
    let token = create_agent_token(&store);
    let first = start_agent(&server.base, &token, device, &dir.path().join("a"));
    api.wait_device(device);
    api.queue_jobs(device, JOBS, 31, 1.0);

    let killed_job = api.running_job(device);
    kill(first);
    let second = start_agent(&server.base, &token, device, &dir.path().join("b"));
    api.wait_all_finished(device, Duration::from_secs(120));
    kill(second);

    let (jobs, _) = api.check_books(device, JOBS);
    let killed = jobs
        .iter()
        .find(|j| j["id"] == killed_job.as_str())
        .unwrap();
    assert!(
        killed["attempt"].as_i64().unwrap() >= 2,
        "the killed agent's lease expired and another agent ran the job: {killed}"
    );
}

/// A tmpfs mounted for the length of a test.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` at `path`; None where this process may not mount.
    fn mount(path: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(path).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        mounted.then(|| Tmpfs(path.to_path_buf()))
    }

    fn remount(&self, mode: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,{mode}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(status.success(), "remount {mode}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Writes zeros into `path` until the file system is full.
fn fill(path: &Path) {
    use std::io::Write;
    let mut file = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 64 << 10];
    loop {
        match file.write_all(&chunk).and_then(|()| file.sync_all()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::StorageFull => return,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
}

fn sqlite(db: &Path, sql: &str) -> String {
    let out = Command::new("sqlite3").arg(db).arg(sql).output().unwrap();
    assert!(
        out.status.success(),
        "sqlite3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn full_or_read_only_disk_under_sqlite_gives_clear_errors_and_no_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // The test command runs as root; a process that may not mount cannot make the check, and
    // a check not made is a failure, not a pass.
    let disk = Tmpfs::mount(&data, "24m").expect(
        "this test needs to mount a tmpfs (run it as root): a full disk cannot be made otherwise",
    );
    let store = ["--data-dir", data.to_str().unwrap()];
    let db = data.join("flash.sqlite3");
    let architectures = "SELECT count(*) FROM architecture";
    let server = ServerProcess::start(&store);
    let api = Api::new(&server.base, &read_admin_token(&data));
    let sample = |api: &Api, n: usize, seed: u64| {
        api.call(
            "POST",
            "/v1/spaces/flash-densenet-digits/samples",
            Some(json!({"n": n, "seed": seed})),
        )
    };
    let (status, _, first) = sample(&api, 5, 1);
    assert_eq!(status, 201);
    let first = format!(
        "/v1/architectures/{}",
        first["items"][0]["id"].as_str().unwrap()
    );

    // A full disk: the write is refused at once with a problem that says why, reads go on.
    let filler = data.join("filler");
    fill(&filler);
    let started = Instant::now();
    let (status, content_type, problem) = sample(&api, 2000, 2);
    assert!(started.elapsed() < Duration::from_secs(10), "no hang");
    assert_eq!(status, 503, "{problem}");
    assert_eq!(content_type, "application/problem+json");
    assert!(
        problem["detail"].as_str().unwrap().contains("disk is full"),
        "{problem}"
    );
    assert_eq!(api.call("GET", &first, None).0, 200);
    assert_eq!(api.call("GET", "/readyz", None).0, 200);

    // With room again the same write succeeds, and nothing of the refused one was left behind.
    std::fs::remove_file(&filler).unwrap();
    let (status, _, _) = sample(&api, 2000, 2);
    assert_eq!(status, 201);
    assert!(server.terminate().success());
    assert_eq!(sqlite(&db, "PRAGMA integrity_check"), "ok");
    assert_eq!(sqlite(&db, architectures), "2005");

    // A read-only file system: the server refuses to start and says why; the store is intact.
    disk.remount("ro");
    let out = Command::new(env!("CARGO_BIN_EXE_flash"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(store)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("is not writable") && stderr.contains("Read-only file system"),
        "{stderr}"
    );
    disk.remount("rw");
    let server = ServerProcess::start(&store);
    let api = Api::new(&server.base, &read_admin_token(&data));
    assert_eq!(api.call("GET", &first, None).0, 200);
    assert_eq!(sample(&api, 1, 3).0, 201);
    assert!(server.terminate().success());
    assert_eq!(sqlite(&db, "PRAGMA integrity_check"), "ok");
    assert_eq!(sqlite(&db, architectures), "2006");
}

/// A Postgres server of this test's own on a free port, run as the `postgres` user and stopped
/// with the guard.
struct PrivatePostgres {
    bin: std::path::PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl PrivatePostgres {
    /// None where there is no Postgres installation or no `postgres` user to run it.
    fn start() -> Option<PrivatePostgres> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin"))
            .find(|b| b.join("initdb").exists())?;
        let dir = tempfile::tempdir().unwrap();
        let ok = |c: &mut Command| c.output().is_ok_and(|o| o.status.success());
        let pg = PrivatePostgres {
            port: free_port(),
            bin,
            dir,
        };
        let ready = ok(Command::new("chown").arg("postgres").arg(pg.dir.path()))
            && ok(pg
                .as_postgres("initdb")
                .args(["-A", "trust", "-U", "postgres", "-D"])
                .arg(pg.dir.path().join("db")));
        if !ready {
            return None;
        }
        pg.pg_ctl("start");
        Some(pg)
    }

    fn as_postgres(&self, program: &str) -> Command {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(self.bin.join(program));
        c
    }

    fn pg_ctl(&self, action: &str) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.path().display()
        );
        let out = self
            .as_postgres("pg_ctl")
            .args(["-w", "-m", "fast", "-D"])
            .arg(self.dir.path().join("db"))
            .arg("-l")
            .arg(self.dir.path().join("log"))
            .args(["-o", &options, action])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl {action}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self
            .as_postgres("pg_ctl")
            .args(["-m", "immediate", "-D"])
            .arg(self.dir.path().join("db"))
            .arg("stop")
            .output();
    }
}

#[test]
fn postgres_stopped_and_started_under_a_running_server() {
    let pg = PrivatePostgres::start().expect(
        "this test needs a Postgres installation and a postgres user (as the test command sets up) to run a private server",
    );
    let device = "faults-postgres";
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let state = dir.path().join("agent");
    let url = pg.url();
    let store = ["--database-url", &url, "--data-dir", data.to_str().unwrap()];
    let server = ServerProcess::start(&store);
    let api = Api::new(&server.base, &read_admin_token(&data));
    let agent = start_agent_with(
        &server.base,
        &create_agent_token(&store),
        device,
        &state,
        &["--retry-for-s", "2"],
    );
    api.wait_device(device);
    api.queue_jobs(device, 1, 41, 0.5);
    let long = api.queue_jobs(device, 1, 42, 4.0).remove(0);
    api.queue_jobs(device, 2, 43, 0.5);
    wait_for("the long job to run", Duration::from_secs(120), || {
        api.job(&long)["state"] == "running"
    });
    let measured = format!("/v1/measurements?device={device}");
    let acknowledged: Vec<Value> = api
        .items(&measured)
        .iter()
        .map(|m| m["id"].clone())
        .collect();
    assert_eq!(acknowledged.len(), 1, "the first job was measured");

    // Postgres away for 10 s: /readyz goes red, writes are refused as unavailable, and the
    // long job's report waits on the agent's disk.
    let stopped = Instant::now();
    pg.pg_ctl("stop");
    wait_for("/readyz to go red", Duration::from_secs(30), || {
        api.call("GET", "/readyz", None).0 == 503
    });
    let (status, _, problem) = api.call(
        "POST",
        "/v1/spaces/flash-densenet-digits/samples",
        Some(json!({"n": 1, "seed": 44})),
    );
    assert_eq!(status, 503, "{problem}");
    wait_for(
        "the agent to keep a report on disk",
        Duration::from_secs(60),
        || pending_reports(&state) > 0,
    );
    std::thread::sleep(Duration::from_secs(10).saturating_sub(stopped.elapsed()));
    pg.pg_ctl("start");

    // Green again without restarting flash serve; the kept report lands once.
    wait_for("/readyz to go green", Duration::from_secs(30), || {
        api.call("GET", "/readyz", None).0 == 200
    });
    api.wait_all_finished(device, Duration::from_secs(120));
    wait_for(
        "the agent to deliver its reports",
        Duration::from_secs(60),
        || pending_reports(&state) == 0,
    );
    kill(agent);
    let (_, measurements) = api.check_books(device, 4);
    assert!(measurements.iter().any(|m| m["id"] == acknowledged[0]));
    assert_eq!(api.job(&long)["attempt"], 1);
    drop(server);
}
