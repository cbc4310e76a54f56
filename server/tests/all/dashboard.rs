//! The dashboard in a real browser: a live server with data (architectures, two devices,
//! measurements, accuracies, fits, a verified search, a closed loop), headless Chromium driven
//! over the DevTools protocol. Each page must render tables with rows and plots with points, the
//! search form must run a search, text from the API must stay text, and every page is saved as
//! a screenshot under target/dashboard-screenshots/.

use std::io::{BufRead, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{ServerProcess, flash_cli};
use serde_json::{Value, json};

/// Device names are restricted to `[A-Za-z0-9._-]`; a data set's name and a measurement's
/// source are free text, so they carry the markup.
const XSS: &str = "<script>alert(1)</script>";

struct Api {
    http: ureq::Agent,
    base: String,
    auth: String,
}

impl Api {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, String) {
        let url = format!("{}{path}", self.base);
        let mut resp = match (method, body) {
            ("GET", _) => self
                .http
                .get(&url)
                .header("authorization", &self.auth)
                .call(),
            (_, body) => {
                let req = match method {
                    "PUT" => self.http.put(&url),
                    _ => self.http.post(&url),
                };
                req.header("authorization", &self.auth)
                    .header("content-type", "application/json")
                    .send(body.unwrap_or(json!({})).to_string())
            }
        }
        .unwrap();
        (
            resp.status().as_u16(),
            resp.body_mut().read_to_string().unwrap(),
        )
    }

    fn json(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, text) = self.call(method, path, body);
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {text}"
        );
        serde_json::from_str(&text).unwrap()
    }
}

/// Latency of an architecture by a made-up law (the test is about the dashboard, not fitting).
fn latency(a: &Value, i: usize) -> f64 {
    0.5 + a["metrics"]["macs"].as_f64().unwrap() * 2e-9 * (1.0 + 0.04 * ((i % 3) as f64 - 1.0))
}

/// What `seed` made that pages are opened on.
struct Seeded {
    /// The accuracy model whose data set is markup.
    xss_model: String,
    /// The search with two winners measured.
    verified: String,
    /// The search whose closed loop has started.
    looped: String,
}

/// Everything each page shows.
fn seed(api: &Api) -> Seeded {
    let archs = api.json(
        "POST",
        "/v1/spaces/flash-densenet/samples",
        Some(json!({"n": 14, "seed": 7})),
    )["items"]
        .as_array()
        .unwrap()
        .clone();
    // Architectures of another family, whose cells have other fields.
    api.json(
        "POST",
        "/v1/spaces/flash-resnet/samples",
        Some(json!({"n": 3, "seed": 7})),
    );
    for device in ["cpu-1", "cpu-2"] {
        api.json(
            "PUT",
            &format!("/v1/devices/{device}"),
            Some(json!({"profile": "x86-host"})),
        );
    }
    api.json("POST", "/v1/devices/cpu-1/heartbeat", None);
    for (i, a) in archs.iter().enumerate() {
        let lat = latency(a, i);
        for (device, scale, source) in [("cpu-1", 1.0, XSS), ("cpu-2", 3.0, "upload")] {
            api.json(
                "POST",
                "/v1/measurements",
                Some(json!({"architecture_id": a["id"], "device": device, "source": source, "result": crate::common::result(lat * scale)})),
            );
        }
        let degree = a["metrics"]["nn_degree"].as_f64().unwrap();
        let accuracy = (0.99 - 40.0 / degree + 0.01 * (i % 2) as f64).clamp(0.1, 0.99);
        for dataset in ["digits", XSS] {
            api.json(
                "POST",
                "/v1/accuracies",
                Some(json!({"architecture_id": a["id"], "dataset": dataset, "accuracy": accuracy})),
            );
        }
    }
    api.json(
        "POST",
        "/v1/hardware-models",
        Some(json!({"device": "cpu-1", "metric": "latency"})),
    );
    api.json(
        "POST",
        "/v1/accuracy-models",
        Some(json!({"dataset": "digits"})),
    );
    let xss_model = api.json("POST", "/v1/accuracy-models", Some(json!({"dataset": XSS})));
    // A closed loop on the other device, before the search the searches page opens on: its
    // first round waits for an agent.
    api.json(
        "POST",
        "/v1/hardware-models",
        Some(json!({"device": "cpu-2", "metric": "latency"})),
    );
    let looped = api.json(
        "POST",
        "/v1/searches",
        Some(json!({"dataset": "digits", "confidence": 0.95, "devices": [{"device": "cpu-2", "max_latency_ms": 9.0}]})),
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    api.json(
        "POST",
        &format!("/v1/searches/{looped}/verify"),
        Some(json!({"refine": true})),
    );
    let search = api.json(
        "POST",
        "/v1/searches",
        Some(json!({"dataset": "digits", "devices": [{"device": "cpu-1", "max_latency_ms": 3.0}]})),
    );
    let id = search["id"].as_str().unwrap();
    api.json(
        "POST",
        &format!("/v1/searches/{id}/verify"),
        Some(json!({"top_k": 2})),
    );
    // Measure the winners as an agent would: claim, then report 5% slower than predicted.
    let verified = api.json("GET", &format!("/v1/searches/{id}"), None);
    for _ in 0..2 {
        let job = api.json("POST", "/v1/jobs/claim", Some(json!({"device": "cpu-1"})));
        let predicted = verified["verification"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["architecture_id"] == job["architecture_id"])
            .unwrap()["predicted_latency_ms"]
            .as_f64()
            .unwrap();
        api.json(
            "POST",
            &format!("/v1/jobs/{}/complete", job["id"].as_str().unwrap()),
            Some(json!({"attempt": job["attempt"], "result": crate::common::result(predicted * 1.05)})),
        );
    }
    // One job running (the device's current job) and one queued.
    let ids: Vec<&Value> = archs.iter().take(2).map(|a| &a["id"]).collect();
    api.json(
        "POST",
        "/v1/jobs",
        Some(json!({"architecture_ids": ids, "device": "cpu-1"})),
    );
    api.json("POST", "/v1/jobs/claim", Some(json!({"device": "cpu-1"})));
    Seeded {
        xss_model: xss_model["id"].as_str().unwrap().to_string(),
        verified: id.to_string(),
        looped,
    }
}

/// A WebSocket client, just enough for the DevTools protocol: text frames, client-masked.
struct WebSocket {
    stream: TcpStream,
}

impl WebSocket {
    fn connect(url: &str) -> WebSocket {
        let rest = url.strip_prefix("ws://").expect("a ws:// URL");
        let (host, path) = rest.split_at(rest.find('/').unwrap());
        let mut stream = TcpStream::connect(host).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: Zmxhc2gtZGFzaGJvYXJkIQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head);
        assert!(
            head.starts_with("HTTP/1.1 101"),
            "WebSocket upgrade: {head}"
        );
        WebSocket { stream }
    }

    fn send(&mut self, text: &str) {
        let payload = text.as_bytes();
        let mut frame = vec![0x81u8];
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n < 65536 => {
                frame.push(0x80 | 126);
                frame.extend((n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend((n as u64).to_be_bytes());
            }
        }
        let mask = [0x5a, 0x17, 0xc3, 0x88];
        frame.extend(mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.write_all(&frame).unwrap();
    }

    fn recv(&mut self) -> String {
        let mut message = Vec::new();
        loop {
            let mut head = [0u8; 2];
            self.stream.read_exact(&mut head).unwrap();
            let (fin, opcode) = (head[0] & 0x80 != 0, head[0] & 0x0f);
            let len = match head[1] & 0x7f {
                126 => {
                    let mut b = [0u8; 2];
                    self.stream.read_exact(&mut b).unwrap();
                    u16::from_be_bytes(b) as usize
                }
                127 => {
                    let mut b = [0u8; 8];
                    self.stream.read_exact(&mut b).unwrap();
                    u64::from_be_bytes(b) as usize
                }
                n => n as usize,
            };
            let mut payload = vec![0u8; len];
            self.stream.read_exact(&mut payload).unwrap();
            assert_ne!(opcode, 0x8, "the browser closed the DevTools connection");
            if opcode <= 0x2 {
                message.extend(payload);
                if fin {
                    return String::from_utf8(message).unwrap();
                }
            }
        }
    }
}

/// Headless Chromium and one page of it, driven over the DevTools protocol.
struct Browser {
    child: Child,
    ws: WebSocket,
    next_id: u64,
    /// JavaScript exceptions and dialogs (`alert`) seen so far.
    incidents: Vec<String>,
    _profile: tempfile::TempDir,
}

fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("FLASH_CHROMIUM") {
        return PathBuf::from(p);
    }
    for name in ["chromium", "chromium-browser"] {
        if let Ok(out) = Command::new("which").arg(name).output()
            && out.status.success()
        {
            return PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        }
    }
    panic!(
        "Chromium is not installed: the dashboard's browser test needs it. Run scripts/ensure-chromium.sh (installs Debian's chromium) or set FLASH_CHROMIUM to a Chromium binary."
    );
}

impl Browser {
    fn start() -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(chromium())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--remote-debugging-port=0",
                "--window-size=1400,1000",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start chromium");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let browser_url = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("Chromium did not open its DevTools port");
        let port = browser_url
            .strip_prefix("ws://127.0.0.1:")
            .and_then(|r| r.split('/').next())
            .expect("DevTools on 127.0.0.1");
        let targets: Value = ureq::get(&format!("http://127.0.0.1:{port}/json/list"))
            .call()
            .unwrap()
            .body_mut()
            .read_json()
            .unwrap();
        let page = targets
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == "page")
            .expect("a page target");
        let ws = WebSocket::connect(page["webSocketDebuggerUrl"].as_str().unwrap());
        let mut b = Browser {
            child,
            ws,
            next_id: 0,
            incidents: Vec::new(),
            _profile: profile,
        };
        b.call("Page.enable", json!({}));
        b.call("Runtime.enable", json!({}));
        b
    }

    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.ws
            .send(&json!({"id": id, "method": method, "params": params}).to_string());
        loop {
            let msg: Value = serde_json::from_str(&self.ws.recv()).unwrap();
            if msg["id"] == id {
                assert!(msg["error"].is_null(), "{method}: {}", msg["error"]);
                return msg["result"].clone();
            }
            match msg["method"].as_str() {
                Some("Runtime.exceptionThrown") => self
                    .incidents
                    .push(format!("exception: {}", msg["params"]["exceptionDetails"])),
                Some("Page.javascriptDialogOpening") => self
                    .incidents
                    .push(format!("dialog: {}", msg["params"]["message"])),
                _ => {}
            }
        }
    }

    /// Evaluates an expression in the page (awaiting promises) and returns its value.
    fn eval(&mut self, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        );
        assert!(
            r["exceptionDetails"].is_null(),
            "{expression}: {}",
            r["exceptionDetails"]
        );
        r["result"]["value"].clone()
    }

    fn wait(&mut self, what: &str, expression: &str) {
        self.wait_up_to(Duration::from_secs(30), what, expression);
    }

    fn wait_up_to(&mut self, limit: Duration, what: &str, expression: &str) {
        let start = Instant::now();
        while self.eval(&format!("!!({expression})")) != json!(true) {
            if start.elapsed() > limit {
                let text = self.eval("document.getElementById('view').innerText");
                panic!("timed out waiting for {what} ({expression}); the page shows:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn number(&mut self, expression: &str) -> u64 {
        self.eval(expression).as_u64().unwrap_or(0)
    }

    /// Opens a dashboard page by its hash and waits until it has rendered.
    fn page(&mut self, hash: &str) {
        let page = hash.trim_start_matches("#/").split('?').next().unwrap();
        self.eval(&format!("location.hash = {}", json!(hash)));
        self.wait(
            &format!("page {hash}"),
            &format!(
                "view.dataset.page === {} && view.dataset.state === 'ready'",
                json!(page)
            ),
        );
    }

    /// Saves the whole page as a PNG and prints its path.
    fn screenshot(&mut self, dir: &Path, name: &str) {
        let metrics = self.call("Page.getLayoutMetrics", json!({}));
        let size = &metrics["cssContentSize"];
        let (w, h) = (
            size["width"].as_f64().unwrap_or(1400.0),
            size["height"].as_f64().unwrap_or(1000.0).min(6000.0),
        );
        let shot = self.call(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true, "clip": {"x": 0, "y": 0, "width": w, "height": h, "scale": 1}}),
        );
        let path = dir.join(name);
        std::fs::write(&path, base64_decode(shot["data"].as_str().unwrap())).unwrap();
        println!("screenshot: {}", path.display());
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let clean: Vec<u8> = text.bytes().filter(|c| *c != b'=').collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let mut acc = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            acc |= (value(*c) as u32) << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        out.extend(&bytes[1..chunk.len()]);
    }
    out
}

#[test]
fn dashboard_pages_render_real_content_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_dir = data.to_str().unwrap();
    let server = ServerProcess::start(&["--data-dir", data_dir]);
    let admin = std::fs::read_to_string(data.join("admin-token"))
        .unwrap()
        .trim()
        .to_string();
    let write_token = flash_cli(&[
        "token",
        "create",
        "--scope",
        "write",
        "--name",
        "dashboard",
        "--data-dir",
        data_dir,
    ])
    .trim()
    .to_string();
    let api = Api {
        http: ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into(),
        base: server.base.clone(),
        auth: format!("Bearer {admin}"),
    };
    let Seeded {
        xss_model,
        verified,
        looped,
    } = seed(&api);

    // The plots escape text too: the data set's name is in the title, as text.
    let (status, svg) = api.call(
        "GET",
        &format!("/v1/accuracy-models/{xss_model}/plot.svg"),
        None,
    );
    assert_eq!(status, 200);
    assert!(
        svg.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{svg}"
    );
    assert!(!svg.contains("<script"), "unescaped markup in the SVG");
    // The page and its files need no token.
    for path in ["/", "/dashboard/app.js", "/dashboard/style.css"] {
        let resp = ureq::get(&format!("{}{path}", server.base)).call().unwrap();
        assert_eq!(resp.status(), 200, "{path} without a token");
    }

    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/dashboard-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let shots = shots.canonicalize().unwrap();
    let started = Instant::now();
    let mut b = Browser::start();
    b.call("Page.navigate", json!({"url": format!("{}/", server.base)}));
    b.wait(
        "the dashboard",
        "document.readyState === 'complete' && window.view && view.dataset.state !== 'loading'",
    );
    // Without a token the API's 401 problem is shown.
    b.wait("the 401 problem", "view.querySelector('.problem') && view.querySelector('.problem').textContent.includes('401')");

    // Paste the token once, as a user would.
    b.eval(&format!(
        "document.getElementById('token').value = {}; document.querySelector('#token-form button[type=submit]').click()",
        json!(write_token)
    ));
    b.wait(
        "fleet with the token",
        "view.dataset.page === 'fleet' && view.dataset.state === 'ready'",
    );
    assert_eq!(
        b.eval("localStorage.getItem('flash-token')"),
        json!(write_token)
    );
    let url = b.eval("location.href");
    assert!(
        !url.as_str().unwrap().contains(&write_token),
        "token in the URL: {url}"
    );

    // Fleet: both devices, one online with a current job, the queue depth.
    assert!(b.number("view.querySelectorAll('table.devices tbody tr').length") >= 2);
    assert_eq!(b.number("document.querySelectorAll('script').length"), 1);
    assert_eq!(
        b.eval("[...view.querySelectorAll('table.devices td')].some(td => td.textContent.startsWith('job_'))"),
        json!(true),
        "current job shown"
    );
    // Queued: one job on cpu-1 and the closed loop's first round on cpu-2.
    assert_eq!(
        b.eval("document.getElementById('queue-depth').textContent"),
        json!("2")
    );
    assert!(b.number("view.querySelectorAll('table.jobs tbody tr').length") >= 2);
    b.screenshot(&shots, "fleet.png");

    // Architectures: paginated, filterable, sortable.
    b.page("#/architectures?limit=5");
    assert_eq!(
        b.number("view.querySelectorAll('table.architectures tbody tr').length"),
        5
    );
    b.eval("document.getElementById('next-page').click()");
    b.wait("the second page", "location.hash.includes('cursor=') && view.dataset.state === 'ready' && view.querySelectorAll('table.architectures tbody tr').length === 5");
    b.page("#/architectures?space=flash-densenet&in_space=true&nn_degree_min=1");
    let rows = b.number("view.querySelectorAll('table.architectures tbody tr').length");
    assert!(rows >= 14, "{rows} architectures in the space");
    b.eval("[...view.querySelectorAll('table.architectures th')].find(th => th.textContent.startsWith('Params')).click()");
    let params = b.eval("[...view.querySelectorAll('table.architectures tbody tr')].map(tr => Number(tr.children[3].textContent.replace(/,/g, '')))");
    let params: Vec<f64> = serde_json::from_value(params).unwrap();
    assert!(
        params.windows(2).all(|w| w[0] <= w[1]),
        "sorted by params: {params:?}"
    );
    b.page("#/architectures?params_max=1");
    assert_eq!(
        b.eval("view.querySelector('table.architectures tbody td').textContent"),
        json!("no architectures match")
    );
    // Each family's cells show their own fields.
    b.page("#/architectures?space=flash-resnet");
    let table = b.eval("view.querySelector('table.architectures tbody').textContent");
    let table = table.as_str().unwrap();
    assert!(
        table.contains("basic") || table.contains("bottleneck"),
        "{table}"
    );
    assert!(
        !table.contains("undefined") && !table.contains("tc"),
        "{table}"
    );
    b.page("#/architectures?space=flash-densenet");
    let table = b.eval("view.querySelector('table.architectures tbody').textContent");
    assert!(table.as_str().unwrap().contains(" tc"), "{table}");
    b.page("#/architectures");
    b.screenshot(&shots, "architectures.png");

    // Measurements.
    b.page("#/measurements");
    assert!(b.number("view.querySelectorAll('table.measurements tbody tr').length") >= 28);
    assert_eq!(
        b.eval(&format!(
            "[...view.querySelectorAll('table.measurements td')].some(td => td.textContent === {})",
            json!(XSS)
        )),
        json!(true),
        "the source is shown as text"
    );
    assert_eq!(b.number("document.querySelectorAll('script').length"), 1);
    b.screenshot(&shots, "measurements.png");

    // Model fits: the figures, the fit and residual plots with a point per architecture.
    b.page("#/models");
    b.wait(
        "three plots",
        "view.querySelectorAll('.plot svg').length >= 3",
    );
    for src in ["/plot.svg", "/residuals.svg"] {
        let points = b.number(&format!(
            "view.querySelector('.plot[data-src^=\"/v1/hardware-models/\"][data-src$=\"{src}\"] svg g.points').querySelectorAll('circle').length"
        ));
        assert_eq!(points, 14, "{src}");
    }
    assert!(b.number("view.querySelector('.plot[data-src^=\"/v1/accuracy-models/\"] svg').querySelectorAll('g.points circle').length") >= 14);
    let text = b.eval("view.innerText").as_str().unwrap().to_string();
    for figure in [
        "MAPE",
        "Within ±10%",
        "Within ±5%",
        "Spearman",
        "Kendall",
        "MACs-only baseline",
        "LOO RMSE",
        "R²",
        "params-only baseline",
        "Coefficient",
    ] {
        assert!(text.contains(figure), "models page lacks {figure}");
    }
    b.screenshot(&shots, "models.png");
    b.page(&format!("#/models?acc={xss_model}"));
    b.wait(
        "the escaped data set's plot",
        "view.querySelectorAll('.plot svg').length >= 3",
    );
    assert_eq!(
        b.eval(&format!(
            "[...view.querySelectorAll('.plot svg text')].some(t => t.textContent.includes({}))",
            json!(XSS)
        )),
        json!(true),
        "the data set's name is text in the plot"
    );
    assert_eq!(b.number("document.querySelectorAll('script').length"), 1);

    // Searches: the Pareto front, the limit, the winner, measured points, verification.
    b.page(&format!("#/searches?id={verified}"));
    b.wait("the Pareto plot", "view.querySelector('.plot svg')");
    assert!(b.number("view.querySelectorAll('.plot svg g.points circle').length") > 10);
    assert_eq!(
        b.number("view.querySelectorAll('.plot svg g.winner path').length"),
        1
    );
    assert_eq!(
        b.number("view.querySelectorAll('.plot svg g.measured circle').length"),
        2
    );
    assert_eq!(
        b.number("view.querySelectorAll('.plot svg line.limit').length"),
        1
    );
    assert_eq!(
        b.number("view.querySelectorAll('table.verification tbody tr').length"),
        2
    );
    assert_eq!(b.number("[...view.querySelectorAll('table.verification td')].filter(td => td.textContent === 'meets' || td.textContent === 'misses').length"), 2);
    b.screenshot(&shots, "searches.png");

    // The closed loop: its round, searched under a scaled limit, waits for its measurement.
    b.page(&format!("#/searches?id={looped}"));
    b.wait("the rounds", "view.querySelector('table.rounds tbody tr')");
    assert_eq!(
        b.eval("view.innerText.includes('Closed loop: running (at most 3 rounds)')"),
        json!(true)
    );
    assert_eq!(
        b.number("view.querySelectorAll('table.rounds tbody tr').length"),
        1
    );
    assert_eq!(b.number("[...view.querySelectorAll('table.rounds td')].filter(td => ['measuring', 'cpu-2', 'latency (ms)'].includes(td.textContent)).length"), 3);
    // Its search had a confidence: the bounds against the limits and what the margin cost.
    assert_eq!(
        b.number("view.querySelectorAll('table.budget-checks tbody tr').length"),
        1
    );
    assert_eq!(
        b.eval("view.innerText.includes('0.95: each limit holds for the cost')"),
        json!(true)
    );
    b.screenshot(&shots, "closed-loop.png");

    // The search form: a problem for an unknown data set, then a search that shows its result.
    b.page("#/new-search");
    b.eval("document.querySelector('form.search [name=dataset]').value = 'no-such-dataset'; document.getElementById('run-search').click()");
    b.wait(
        "the problem",
        "document.querySelector('form.search').dataset.state === 'error'",
    );
    assert!(b.number("view.querySelectorAll('#search-result .problem').length") == 1);
    b.eval("document.querySelector('form.search [name=dataset]').value = 'digits'; document.querySelector('fieldset.device [name=device]').value = 'cpu-1'; document.querySelector('fieldset.device [name=max_latency_ms]').value = '2.5'; document.getElementById('run-search').click()");
    // An exact search over the whole grid takes a while in a debug build on a busy machine.
    b.wait_up_to(Duration::from_secs(300), "the search result", "document.querySelector('form.search').dataset.state === 'done' && document.querySelector('#search-result .plot svg')");
    assert_eq!(
        b.number("view.querySelectorAll('#search-result .plot svg g.winner path').length"),
        1
    );
    assert_eq!(
        b.eval("view.querySelector('#search-result').innerText.includes('latency ≤ 2.5 ms')"),
        json!(true)
    );
    b.screenshot(&shots, "new-search.png");
    let (_, list) = api.call("GET", "/v1/searches", None);
    assert_eq!(
        serde_json::from_str::<Value>(&list).unwrap()["items"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    assert!(b.incidents.is_empty(), "in the page: {:?}", b.incidents);
    println!("browser part took {:.1} s", started.elapsed().as_secs_f64());
}
