//! What the service does, between the HTTP routes and the store: fitting models, predicting,
//! searching, verifying winners and closing the loop on them, sampling spaces and recording
//! measurements. Routes parse the
//! request, check the caller, call one function here and respond; the functions here check the
//! request against the data, call the core and the store, and return API records or an
//! `ApiError` that says what the client must change.

pub mod fitting;
pub mod measuring;
pub mod predicting;
pub mod refining;
pub mod sampling;
pub mod searching;
pub mod validation;
pub mod verifying;

use crate::error::{ApiError, ApiResult};

/// Runs CPU-bound work (fits, searches, batch predictions) off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))
}
