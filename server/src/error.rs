//! One error type for the API and one mapping to HTTP statuses. Bodies are RFC 7807
//! `application/problem+json`; client mistakes carry field-level messages, internal errors are
//! logged with their cause and answered with a generic message.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use flash_core::FieldError;

use flash_client::Problem;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String, Vec<FieldError>),
    #[error("{0}")]
    Unprocessable(String, Vec<FieldError>),
    #[error("missing or invalid bearer token")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("request body larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("too many requests")]
    TooManyRequests,
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// The store cannot write: its disk is full or it is read-only.
    #[error("the store refused a write: {0}")]
    WriteRefused(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn invalid(errors: Vec<FieldError>) -> ApiError {
        ApiError::Unprocessable("the request is not valid".into(), errors)
    }

    pub fn field(field: &str, message: impl Into<String>) -> ApiError {
        ApiError::invalid(vec![FieldError::new(field, message)])
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(..) => StatusCode::BAD_REQUEST,
            ApiError::Unprocessable(..) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) | ApiError::WriteRefused(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ApiError::NotFound(format!("{what} not found")),
            StoreError::Conflict(what) => ApiError::Conflict(what),
            StoreError::Unavailable(cause) => ApiError::Unavailable(cause.to_string()),
            other if other.is_write_refused() => ApiError::WriteRefused(other.to_string()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let detail = match &self {
            ApiError::Internal(cause) => {
                tracing::error!(cause = %cause, "internal error");
                "an internal error occurred; it has been logged".to_string()
            }
            ApiError::Unavailable(cause) => {
                tracing::warn!(cause = %cause, "service unavailable");
                "the database is unavailable; retry shortly".to_string()
            }
            ApiError::WriteRefused(cause) => {
                tracing::error!(cause = %cause, "the store refused a write");
                "the store cannot take writes now: its disk is full or read-only; \
                 retry once there is room"
                    .to_string()
            }
            other => other.to_string(),
        };
        let errors = match self {
            ApiError::BadRequest(_, errors) | ApiError::Unprocessable(_, errors) => errors,
            _ => Vec::new(),
        };
        let problem = Problem {
            kind: format!("/problems/{}", problem_slug(status)),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail,
            errors,
        };
        let mut response = (status, axum::Json(problem)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if matches!(
            status,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
        ) {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// The problem type slug of a status (the same for every error of that status).
fn problem_slug(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad-request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not-found",
        409 => "conflict",
        413 => "payload-too-large",
        415 => "unsupported-media-type",
        422 => "invalid-request",
        429 => "too-many-requests",
        503 => "unavailable",
        _ => "internal",
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Documents problem responses in the OpenAPI document, one set per kind of failure a route can
/// have (`responses((status = 200, ...), AuthProblems, BodyProblems)`).
macro_rules! problem_responses {
    ($name:ident: $(($status:literal, $description:literal)),+) => {
        pub struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> std::collections::BTreeMap<
                String,
                utoipa::openapi::RefOr<utoipa::openapi::response::Response>,
            > {
                use utoipa::PartialSchema;
                let mut map = std::collections::BTreeMap::new();
                $(
                    map.insert(
                        $status.to_string(),
                        utoipa::openapi::response::ResponseBuilder::new()
                            .description($description)
                            .content(
                                "application/problem+json",
                                utoipa::openapi::content::ContentBuilder::new()
                                    .schema(Some(utoipa::openapi::RefOr::Ref(
                                        utoipa::openapi::Ref::from_schema_name("Problem"),
                                    )))
                                    .build(),
                            )
                            .build()
                            .into(),
                    );
                )+
                let _ = Problem::schema;
                map
            }
        }
    };
}

problem_responses!(AuthProblems: ("401", "No valid bearer token"), ("403", "The token's scope does not allow this"));
problem_responses!(NotFoundProblem: ("404", "No such resource"));
problem_responses!(QueryProblems: ("400", "Invalid query parameters"));
problem_responses!(BodyProblems:
    ("400", "Malformed body"),
    ("413", "Body too large"),
    ("415", "Wrong content type"),
    ("422", "Invalid values (each field named)"));
problem_responses!(ConflictProblem: ("409", "Conflicts with the resource's state"));
problem_responses!(TooLargeToExportProblem: ("422", "The network is too large to export"));
