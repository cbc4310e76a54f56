//! Beyond `max_in_flight` requests the API answers 429 with `Retry-After` at once instead of
//! queueing; health and metrics stay reachable.

use axum::http::Method;
use flash_server::{ApiConfig, AppState};

use crate::common::http::call;
use crate::common::{Tokens, sqlite_store};

#[tokio::test]
async fn requests_beyond_the_limit_are_shed_with_retry_after() {
    let t = sqlite_store().await;
    let tokens = Tokens::create(&t.store).await;
    let config = ApiConfig {
        max_in_flight: 4,
        ..ApiConfig::default()
    };
    let state = AppState::new(t.store.clone(), config);
    let app = flash_server::app::router(state.clone());
    let get = |uri: &'static str| {
        let (app, token) = (app.clone(), tokens.read.clone());
        async move { call(&app, Method::GET, uri, Some(&token), None, Vec::new()).await }
    };
    assert_eq!(get("/v1/spaces").await.status.as_u16(), 200);
    // Four requests in flight hold every permit.
    let held = state.in_flight.clone().acquire_many_owned(4).await.unwrap();
    let r = get("/v1/spaces").await;
    assert_eq!(r.status.as_u16(), 429);
    assert_eq!(r.content_type(), "application/problem+json");
    assert_eq!(r.headers["retry-after"], "1");
    for uri in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(get(uri).await.status.as_u16(), 200, "{uri}");
    }
    drop(held);
    assert_eq!(get("/v1/spaces").await.status.as_u16(), 200);
}
