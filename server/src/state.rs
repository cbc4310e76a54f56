//! What every request handler shares: the store, the API's settings, the token and model
//! caches, the request metrics and the in-flight limit.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::metrics::HttpMetrics;
use crate::store::{Store, StoreError, VerifiedToken};

/// Settings of the HTTP API.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Largest JSON body accepted.
    pub json_body_limit: usize,
    /// Largest ONNX upload accepted.
    pub onnx_body_limit: usize,
    /// Largest batch request (predictions of many architectures) accepted.
    pub batch_body_limit: usize,
    /// Let GET requests through without a token.
    pub public_read: bool,
    /// Lease given to a claimed job, in seconds.
    pub lease_seconds: i64,
    /// Attempts a job gets before it fails.
    pub max_attempts: i64,
    /// API requests served at once; beyond it requests are answered 429 with `Retry-After`.
    pub max_in_flight: usize,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            json_body_limit: 1 << 20,
            onnx_body_limit: 16 << 20,
            batch_body_limit: 32 << 20,
            public_read: false,
            lease_seconds: 30,
            max_attempts: 3,
            max_in_flight: 512,
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<ApiConfig>,
    pub tokens: Arc<TokenCache>,
    pub metrics: Arc<HttpMetrics>,
    pub models: Arc<ModelCache>,
    /// Permits for requests in flight (`ApiConfig::max_in_flight`).
    pub in_flight: Arc<Semaphore>,
}

impl AppState {
    pub fn new(store: Store, config: ApiConfig) -> AppState {
        AppState {
            store,
            in_flight: Arc::new(Semaphore::new(config.max_in_flight.max(1))),
            config: Arc::new(config),
            tokens: Arc::new(TokenCache::default()),
            metrics: Arc::new(HttpMetrics::default()),
            models: Arc::new(ModelCache::default()),
        }
    }
}

/// Verified tokens, remembered briefly so a busy agent or notebook does not cost a database
/// round trip per request. A revocation takes effect within `TTL` on every replica.
#[derive(Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<String, (VerifiedToken, Instant)>>,
}

impl TokenCache {
    const TTL: Duration = Duration::from_secs(5);

    pub async fn verify(
        &self,
        token: &str,
        store: &Store,
    ) -> Result<Option<VerifiedToken>, StoreError> {
        if let Some((t, at)) = self.entries.lock().expect("token cache").get(token)
            && at.elapsed() < Self::TTL
        {
            return Ok(Some(t.clone()));
        }
        let verified = store.verify_token(token).await?;
        let mut entries = self.entries.lock().expect("token cache");
        match &verified {
            Some(t) => {
                if entries.len() > 10_000 {
                    entries.clear();
                }
                entries.insert(token.to_string(), (t.clone(), Instant::now()));
            }
            None => {
                entries.remove(token);
            }
        }
        Ok(verified)
    }
}

/// Decoded model records by id, so that a prediction does not decode its fits' JSON each time.
/// A stored model never changes, so an entry never goes stale on any replica; the map is
/// emptied when it outgrows its bound.
#[derive(Default)]
pub struct ModelCache {
    entries: Mutex<HashMap<String, Arc<dyn Any + Send + Sync>>>,
}

impl ModelCache {
    const MAX_ENTRIES: usize = 1_000;

    pub fn get<T: Send + Sync + 'static>(&self, id: &str) -> Option<Arc<T>> {
        let entry = self.entries.lock().expect("model cache").get(id).cloned()?;
        entry.downcast::<T>().ok()
    }

    pub fn insert<T: Send + Sync + 'static>(&self, id: &str, record: Arc<T>) {
        let mut entries = self.entries.lock().expect("model cache");
        if entries.len() >= Self::MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(id.to_string(), record);
    }
}
