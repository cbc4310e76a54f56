//! Predictions: accuracy, latency and energy of many architectures at once, each naming the fit
//! it came from.

use axum::extract::State;
use axum::http::HeaderMap;
use bytes::Bytes;
use flash_client::{PredictionRequest, PredictionResponse};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiResult, AuthProblems, BodyProblems};
use crate::extract::{Access, Caller, json_body};
use crate::services::predicting;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_predictions))
}

/// Predict accuracy, latency and energy of architectures (ids or specs); up to 200,000 a call.
#[utoipa::path(
    post, path = "/v1/predictions", tag = "models",
    request_body = PredictionRequest,
    responses((status = 200, description = "One prediction per architecture, in order", body = PredictionResponse), AuthProblems, BodyProblems),
    security(("bearer" = ["read", "write", "admin"]))
)]
async fn create_predictions(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<axum::Json<PredictionResponse>> {
    caller.require(Access::Read, &state)?;
    let req: PredictionRequest = json_body(&headers, body, state.config.batch_body_limit)?;
    Ok(axum::Json(predicting::predict(&state, req).await?))
}
