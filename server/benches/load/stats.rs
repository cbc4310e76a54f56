//! What the load test's clients saw, by route: every attempt's latency and status, observed
//! through the client's hook (retries included), and the replies that did not decode.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use flash_client::{Client, ClientError, Exchange, RetryPolicy};

/// Latencies and statuses of one route.
#[derive(Default)]
pub struct RouteStats {
    pub latencies_ms: Vec<f64>,
    pub statuses: BTreeMap<u16, usize>,
}

#[derive(Default)]
pub struct Stats {
    pub routes: BTreeMap<String, RouteStats>,
    pub transport_errors: usize,
    /// 2xx replies that are not what the API's types say.
    pub undecodable: Vec<String>,
}

impl Stats {
    pub fn merge(&mut self, other: Stats) {
        for (route, s) in other.routes {
            let mine = self.routes.entry(route).or_default();
            mine.latencies_ms.extend(s.latencies_ms);
            for (status, n) in s.statuses {
                *mine.statuses.entry(status).or_default() += n;
            }
        }
        self.transport_errors += other.transport_errors;
        self.undecodable.extend(other.undecodable);
    }

    fn observe(&mut self, e: &Exchange) {
        let Some(status) = e.status else {
            self.transport_errors += 1;
            return;
        };
        let s = self.routes.entry(route_of(e.method, e.path)).or_default();
        s.latencies_ms.push(e.elapsed.as_secs_f64() * 1000.0);
        *s.statuses.entry(status).or_default() += 1;
    }
}

/// The route a request went to: the path without its query, names and ids as placeholders.
pub fn route_of(method: &str, path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    let segments: Vec<&str> = path.split('/').collect();
    let named: Vec<&str> = segments
        .iter()
        .enumerate()
        .map(|(i, s)| match (i, segments.get(2)) {
            (3, Some(&"jobs")) if *s == "claim" => s,
            (3, Some(&"devices")) => "{name}",
            (3, _) => "{id}",
            _ => s,
        })
        .collect();
    format!("{method} {}", named.join("/"))
}

/// One simulated user: the service's client, retrying as long as the run lasts, with every
/// attempt recorded.
pub struct Observed {
    pub client: Client,
    stats: Arc<Mutex<Stats>>,
}

impl Observed {
    pub fn new(base: &str, token: &str) -> Observed {
        let stats = Arc::new(Mutex::new(Stats::default()));
        let sink = stats.clone();
        let retry = RetryPolicy {
            first_delay: std::time::Duration::from_millis(200),
            max_delay: std::time::Duration::from_secs(2),
            give_up_after: std::time::Duration::from_secs(3600),
        };
        let client = Client::new(base, token, retry).observed(Arc::new(move |e: &Exchange| {
            sink.lock().expect("stats").observe(e);
        }));
        Observed { client, stats }
    }

    /// Keeps a reply that did not decode (the API broke its contract); a refusal is already
    /// in the statuses.
    pub fn note<T>(&self, what: &str, reply: Result<T, ClientError>) -> Option<T> {
        match reply {
            Ok(t) => Some(t),
            Err(ClientError::Protocol(e)) => {
                self.stats
                    .lock()
                    .expect("stats")
                    .undecodable
                    .push(format!("{what}: {e}"));
                None
            }
            Err(_) => None,
        }
    }

    pub fn into_stats(self) -> Stats {
        drop(self.client);
        Arc::try_unwrap(self.stats)
            .ok()
            .expect("the client is gone")
            .into_inner()
            .expect("stats")
    }
}
