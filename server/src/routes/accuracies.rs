//! Trained accuracies: the accuracy predictor's data.

use axum::extract::State;
use axum::http::StatusCode;
use flash_client::{AccuracyUpload, ListPage};

use flash_core::FieldError;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult, AuthProblems, BodyProblems, QueryProblems};
use crate::extract::{Access, ApiJson, ApiQuery, Caller, Paging};
use crate::services::validation::check_name;
use crate::state::AppState;
use crate::store::{Accuracy, AccuracyFilter, NewAccuracy};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_accuracy, list_accuracies))
}

/// Record a trained accuracy.
#[utoipa::path(
    post, path = "/v1/accuracies", tag = "accuracies",
    request_body = AccuracyUpload,
    responses((status = 201, description = "Stored", body = Accuracy), AuthProblems, BodyProblems),
    security(("bearer" = ["write", "admin"]))
)]
async fn create_accuracy(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(upload): ApiJson<AccuracyUpload>,
) -> ApiResult<(StatusCode, axum::Json<Accuracy>)> {
    caller.require(Access::Write, &state)?;
    let mut errors = Vec::new();
    if !(upload.accuracy.is_finite() && (0.0..=1.0).contains(&upload.accuracy)) {
        errors.push(FieldError::new(
            "accuracy",
            "must be a number in [0, 1] (a fraction, not a percentage)",
        ));
    }
    if let Some(e) = upload.epochs
        && !(0..=1_000_000).contains(&e)
    {
        errors.push(FieldError::new("epochs", "must be in 0..=1000000"));
    }
    if let Err(ApiError::Unprocessable(_, e)) = check_name("dataset", &upload.dataset) {
        errors.extend(e);
    }
    if upload.notes.as_ref().is_some_and(|n| n.len() > 10_000) {
        errors.push(FieldError::new("notes", "at most 10000 bytes"));
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    if let Err(crate::store::StoreError::NotFound(_)) =
        state.store.architecture(&upload.architecture_id).await
    {
        return Err(ApiError::field("architecture_id", "no such architecture"));
    }
    let a = state
        .store
        .add_accuracy(NewAccuracy {
            architecture_id: upload.architecture_id,
            dataset: upload.dataset,
            accuracy: upload.accuracy,
            epochs: upload.epochs,
            notes: upload.notes,
        })
        .await?;
    Ok((StatusCode::CREATED, axum::Json(a)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct AccuracyQuery {
    /// Items per page, 1..=1000 (default 100).
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Only records of this data set.
    dataset: Option<String>,
    /// Only records of this architecture.
    architecture: Option<String>,
}

/// List trained accuracies.
#[utoipa::path(
    get, path = "/v1/accuracies", tag = "accuracies",
    params(AccuracyQuery),
    responses((status = 200, description = "A page of accuracies", body = ListPage<Accuracy>), AuthProblems, QueryProblems),
    security(("bearer" = ["read", "write", "admin"]))
)]
async fn list_accuracies(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AccuracyQuery>,
) -> ApiResult<axum::Json<ListPage<Accuracy>>> {
    caller.require(Access::Read, &state)?;
    let (cursor, limit) = Paging {
        limit: q.limit,
        cursor: q.cursor,
    }
    .parse()?;
    let filter = AccuracyFilter {
        dataset: q.dataset,
        architecture_id: q.architecture,
    };
    Ok(axum::Json(
        state.store.list_accuracies(&filter, cursor, limit).await?,
    ))
}
