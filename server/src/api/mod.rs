//! The REST API under /v1. Each resource module owns its handlers and returns its routes; the
//! OpenAPI document is collected from the handlers themselves.

mod accuracies;
pub mod architectures;
pub(crate) mod devices;
mod jobs;
mod measurements;
pub mod models;
pub mod plots;
pub mod predictions;
pub mod searches;
mod spaces;

use serde::Serialize;
use utoipa::OpenApi;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;

use crate::app::{ApiDoc, AppState};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(architectures::routes())
        .merge(spaces::routes())
        .merge(devices::routes())
        .merge(jobs::routes())
        .merge(measurements::routes())
        .merge(accuracies::routes())
        .merge(models::routes())
        .merge(predictions::routes())
        .merge(searches::routes())
        .merge(plots::routes())
}

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListPage<T: ToSchema> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl<T: ToSchema> From<crate::store::Page<T>> for ListPage<T> {
    fn from(p: crate::store::Page<T>) -> Self {
        ListPage {
            items: p.items,
            next_cursor: p.next_cursor,
        }
    }
}

/// Rejects text that no name of this service may be: empty, over 128 bytes, or with control
/// characters.
pub fn check_name(field: &str, value: &str) -> Result<(), crate::error::ApiError> {
    if value.is_empty() || value.len() > 128 || value.chars().any(char::is_control) {
        Err(crate::error::ApiError::field(
            field,
            "must be 1 to 128 bytes with no control characters",
        ))
    } else {
        Ok(())
    }
}
