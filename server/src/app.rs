//! The application: the router with its layers, and a server bound to a port
//! (port 0 in tests) that shuts down gracefully.

use std::net::SocketAddr;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;
use utoipa_swagger_ui::SwaggerUi;

use crate::error::ApiError;
use crate::routes;
use crate::services;
use crate::state::AppState;

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

#[derive(Clone, Default)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let mut buf = [0u8; 8];
        getrandom::fill(&mut buf).ok()?;
        HeaderValue::from_str(&hex::encode(buf))
            .ok()
            .map(RequestId::new)
    }
}

/// The whole HTTP surface: /v1, the OpenAPI document and its UI, health, metrics.
pub fn router(state: AppState) -> Router {
    let (api_router, openapi) = routes::all().split_for_parts();
    let config = &state.config;
    let body_limit = config
        .onnx_body_limit
        .max(config.json_body_limit)
        .max(config.batch_body_limit);
    let trace = TraceLayer::new_for_http().make_span_with(|req: &Request| {
        let request_id = req
            .headers()
            .get(&REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %request_id)
    });
    Router::new()
        .merge(api_router)
        .merge(SwaggerUi::new("/docs").url("/openapi.json", openapi))
        .route("/", get(crate::dashboard::index))
        .route("/dashboard/{file}", get(crate::dashboard::asset))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            limit_in_flight,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            record_metrics,
        ))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        .layer(trace)
        .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), RandomRequestId))
        .with_state(state)
}

/// The OpenAPI document of the code as it is.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    routes::all().split_for_parts().1
}

/// Pretty JSON of the OpenAPI document, as committed in openapi/openapi.json.
pub fn openapi_json() -> String {
    let mut text = openapi_document()
        .to_pretty_json()
        .expect("the document serialises");
    text.push('\n');
    text
}

async fn record_metrics(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().clone();
    let response = next.run(req).await;
    state.metrics.record(
        method.as_str(),
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// Sheds requests beyond `max_in_flight` with 429 and `Retry-After` instead of queueing them
/// without bound (clients back off and retry); health and metrics are always answered.
async fn limit_in_flight(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if matches!(req.uri().path(), "/healthz" | "/readyz" | "/metrics") {
        return next.run(req).await;
    }
    match state.in_flight.clone().try_acquire_owned() {
        Ok(_permit) => next.run(req).await,
        Err(_) => ApiError::TooManyRequests.into_response(),
    }
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> Response {
    if state.store.ping().await {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let queue = state.store.queue_depth().await.ok();
    let body = state.metrics.render(queue);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        body,
    )
        .into_response()
}

/// A bound, not yet serving, HTTP server.
pub struct Application {
    listener: tokio::net::TcpListener,
    router: Router,
    state: AppState,
}

impl Application {
    pub async fn build(listen: SocketAddr, state: AppState) -> std::io::Result<Application> {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        Ok(Application {
            listener,
            router: router(state.clone()),
            state,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` resolves, then finishes the requests in flight. Meanwhile a
    /// background task carries searches' closed loops on (their state is in the store), and
    /// the process is prepared for searching (`services::searching::prepared`).
    pub async fn serve(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        tokio::spawn(services::searching::prepared());
        let loops = tokio::spawn(services::refining::run_forever(self.state));
        let served = axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await;
        loops.abort();
        served
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown requested; finishing requests in flight");
}
