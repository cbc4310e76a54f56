//! Architectures: store a spec or an ONNX model with its metrics; list, get, export.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use flash_client::ListPage;

use flash_core::{ArchSpec, metrics, onnx};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{
    ApiError, ApiResult, AuthProblems, BodyProblems, NotFoundProblem, QueryProblems,
    TooLargeToExportProblem,
};
use crate::extract::{Access, ApiQuery, Caller, Paging, body_rejection};
use crate::state::AppState;
use crate::store::{Architecture, ArchitectureFilter, NewArchitecture, Source};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_architecture, list_architectures))
        .routes(routes!(get_architecture))
        .routes(routes!(get_architecture_onnx))
}

fn onnx_architecture(bytes: Vec<u8>) -> ApiResult<NewArchitecture> {
    let graph = onnx::import(&bytes).map_err(|e| ApiError::field("body", e.to_string()))?;
    Ok(NewArchitecture {
        id: flash_core::identity::architecture_id(graph.canonical_json().as_bytes()),
        source: Source::Onnx,
        space: None,
        in_space: false,
        spec: None,
        metrics: metrics::compute(&graph),
        onnx: Some(bytes),
    })
}

/// Store an architecture.
///
/// The body is a spec (`Content-Type: application/json`) or an ONNX model
/// (`Content-Type: application/onnx`). 201 when new, 200 with the same body when it exists.
#[utoipa::path(
    post, path = "/v1/architectures", tag = "architectures",
    request_body(content(
        (ArchSpec = "application/json"),
        (Vec<u8> = "application/onnx")
    )),
    responses(
        (status = 201, description = "Stored", body = Architecture),
        (status = 200, description = "Already stored", body = Architecture),
        AuthProblems, BodyProblems,
    ),
    security(("bearer" = ["write", "admin"]))
)]
async fn create_architecture(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<Response> {
    caller.require(Access::Write, &state)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let config = &state.config;
    let new = match content_type.as_str() {
        "application/json" => {
            let body = body.map_err(|e| body_rejection(e, config.json_body_limit))?;
            if body.len() > config.json_body_limit {
                return Err(ApiError::PayloadTooLarge(config.json_body_limit));
            }
            let value: serde_json::Value = crate::extract::parse_json(&body)?;
            let spec = ArchSpec::from_value(&value).map_err(|e| ApiError::invalid(e.0))?;
            tokio::task::spawn_blocking(move || NewArchitecture::from_spec(spec))
                .await
                .map_err(|e| ApiError::Internal(e.to_string()))?
        }
        "application/onnx" | "application/octet-stream" => {
            let body = body.map_err(|e| body_rejection(e, config.onnx_body_limit))?;
            if body.len() > config.onnx_body_limit {
                return Err(ApiError::PayloadTooLarge(config.onnx_body_limit));
            }
            let bytes = body.to_vec();
            tokio::task::spawn_blocking(move || onnx_architecture(bytes))
                .await
                .map_err(|e| ApiError::Internal(e.to_string()))??
        }
        other => {
            return Err(ApiError::UnsupportedMediaType(format!(
                "send a spec as application/json or a model as application/onnx, not {other:?}"
            )));
        }
    };
    let (architecture, created) = state.store.put_architecture(new).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(architecture)).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ArchitectureQuery {
    /// Items per page, 1..=1000 (default 100).
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Only architectures of this space.
    space: Option<String>,
    /// Only architectures on (true) or off (false) their space's grid.
    in_space: Option<bool>,
    nn_degree_min: Option<f64>,
    nn_degree_max: Option<f64>,
    /// Only architectures with at most this many parameters.
    params_max: Option<i64>,
}

/// List architectures.
#[utoipa::path(
    get, path = "/v1/architectures", tag = "architectures",
    params(ArchitectureQuery),
    responses(
        (status = 200, description = "A page of architectures", body = ListPage<Architecture>),
        AuthProblems, QueryProblems,
    ),
    security(("bearer" = ["read", "write", "admin"]))
)]
async fn list_architectures(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ArchitectureQuery>,
) -> ApiResult<axum::Json<ListPage<Architecture>>> {
    caller.require(Access::Read, &state)?;
    let (cursor, limit) = Paging {
        limit: q.limit,
        cursor: q.cursor,
    }
    .parse()?;
    let filter = ArchitectureFilter {
        space: q.space,
        in_space: q.in_space,
        nn_degree_min: q.nn_degree_min,
        nn_degree_max: q.nn_degree_max,
        params_max: q.params_max,
    };
    Ok(axum::Json(
        state
            .store
            .list_architectures(&filter, cursor, limit)
            .await?,
    ))
}

/// Get one architecture.
#[utoipa::path(
    get, path = "/v1/architectures/{id}", tag = "architectures",
    params(("id" = String, Path, description = "Architecture id")),
    responses(
        (status = 200, description = "The architecture", body = Architecture),
        AuthProblems, NotFoundProblem,
    ),
    security(("bearer" = ["read", "write", "agent", "admin"]))
)]
async fn get_architecture(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Architecture>> {
    caller.require(Access::ReadOrAgent, &state)?;
    Ok(axum::Json(state.store.architecture(&id).await?))
}

/// Get the architecture as an ONNX model (opset 17).
///
/// Specs are exported deterministically (the same bytes every time); imports return the model
/// as uploaded.
#[utoipa::path(
    get, path = "/v1/architectures/{id}/onnx", tag = "architectures",
    params(("id" = String, Path, description = "Architecture id")),
    responses(
        (status = 200, description = "The ONNX model", body = Vec<u8>, content_type = "application/onnx"),
        AuthProblems, NotFoundProblem, TooLargeToExportProblem,
    ),
    security(("bearer" = ["read", "write", "agent", "admin"]))
)]
async fn get_architecture_onnx(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require(Access::ReadOrAgent, &state)?;
    let bytes = match state.store.architecture_onnx(&id).await? {
        Some(bytes) => bytes,
        None => {
            let architecture = state.store.architecture(&id).await?;
            if let Some(why) = onnx::too_large_to_export(architecture.metrics.params) {
                return Err(ApiError::field("id", why));
            }
            let spec = architecture.spec.ok_or_else(|| {
                ApiError::Internal(format!("architecture {id} has neither spec nor model"))
            })?;
            tokio::task::spawn_blocking(move || onnx::export_spec(&spec))
                .await
                .map_err(|e| ApiError::Internal(e.to_string()))?
        }
    };
    Ok((
        [
            (header::CONTENT_TYPE, "application/onnx".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{id}.onnx\""),
            ),
        ],
        bytes,
    )
        .into_response())
}
