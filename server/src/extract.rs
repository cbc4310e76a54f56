//! Request extractors that turn every client mistake into a problem body: JSON bodies with the
//! failing field named, query strings, list paging, and the caller's bearer token.

use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::header;
use axum::http::request::Parts;
use bytes::Bytes;
use flash_core::FieldError;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{Scope, VerifiedToken};

/// Maps a body-reading failure: too large is 413, anything else 400.
pub fn body_rejection(e: BytesRejection, limit: usize) -> ApiError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge(limit)
    } else {
        ApiError::BadRequest(format!("could not read the request body: {e}"), vec![])
    }
}

/// Parses JSON bytes into `T`, naming the failing field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let field = if path == "." { "$".to_string() } else { path };
        if inner.is_syntax() || inner.is_eof() {
            ApiError::BadRequest(
                "the body is not valid JSON".into(),
                vec![FieldError::new(field, inner.to_string())],
            )
        } else {
            ApiError::invalid(vec![FieldError::new(field, inner.to_string())])
        }
    })
}

/// A JSON body (`Content-Type: application/json`), within the JSON size limit.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let limit = state.config.json_body_limit;
        let headers = req.headers().clone();
        let body = Bytes::from_request(req, state).await;
        json_body(&headers, body, limit).map(ApiJson)
    }
}

/// A JSON body of at most `limit` bytes, parsed into `T`.
pub fn json_body<T: DeserializeOwned>(
    headers: &axum::http::HeaderMap,
    body: Result<Bytes, BytesRejection>,
    limit: usize,
) -> Result<T, ApiError> {
    require_json(headers)?;
    let bytes = body.map_err(|e| body_rejection(e, limit))?;
    if bytes.len() > limit {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    parse_json(&bytes)
}

pub fn require_json(headers: &axum::http::HeaderMap) -> Result<(), ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(format!(
            "expected Content-Type: application/json, got {:?}",
            content_type
        )))
    }
}

/// Query parameters, with parse failures as 400 problems.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| ApiQuery(q))
            .map_err(|e: QueryRejection| {
                ApiError::BadRequest(
                    "invalid query string".into(),
                    vec![FieldError::new("query", e.body_text())],
                )
            })
    }
}

/// `?limit=&cursor=` of every list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct Paging {
    /// Items per page, 1..=1000 (default 100).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl Paging {
    /// The cursor and limit, validated.
    pub fn parse(&self) -> Result<(i64, i64), ApiError> {
        let limit = self.limit.unwrap_or(100);
        let mut errors = Vec::new();
        if !(1..=1000).contains(&limit) {
            errors.push(FieldError::new("limit", "must be in 1..=1000"));
        }
        let cursor = crate::store::parse_cursor(self.cursor.as_deref()).unwrap_or_else(|| {
            errors.push(FieldError::new(
                "cursor",
                "not a cursor returned by this list",
            ));
            0
        });
        if errors.is_empty() {
            Ok((cursor, limit))
        } else {
            Err(ApiError::BadRequest("invalid paging".into(), errors))
        }
    }
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read data: read, write and admin tokens (anyone with `--public-read`).
    Read,
    /// Read what agents need too (their architectures' models, their jobs, their devices).
    ReadOrAgent,
    /// Change data: write and admin tokens.
    Write,
    /// Agent operations (claim, heartbeat, report): agent and admin tokens.
    Agent,
    /// Register devices: agents, and operators with write tokens (analytic accelerators).
    WriteOrAgent,
}

impl Access {
    pub fn allows(self, scope: Scope) -> bool {
        use Scope::*;
        match self {
            Access::Read => matches!(scope, Read | Write | Admin),
            Access::ReadOrAgent => true,
            Access::Write => matches!(scope, Write | Admin),
            Access::Agent => matches!(scope, Agent | Admin),
            Access::WriteOrAgent => matches!(scope, Write | Agent | Admin),
        }
    }

    /// Scopes that reach the route, as documented in the OpenAPI document.
    pub fn scopes(self) -> Vec<&'static str> {
        use strum::VariantArray;
        Scope::VARIANTS
            .iter()
            .filter(|s| self.allows(**s))
            .map(|s| s.into())
            .collect()
    }

    fn open_with_public_read(self) -> bool {
        matches!(self, Access::Read | Access::ReadOrAgent)
    }
}

/// The caller's verified token (None when none was sent).
pub struct Caller(pub Option<VerifiedToken>);

impl Caller {
    /// The device the caller's agent token is bound to, if it is.
    pub fn bound_device(&self) -> Option<&str> {
        self.0.as_ref().and_then(|t| t.device.as_deref())
    }

    /// Refuses (403) an agent token bound to a device other than `device`; every other caller
    /// passes.
    pub fn require_device(&self, device: &str) -> Result<(), ApiError> {
        match self.bound_device() {
            Some(bound) if bound != device => Err(ApiError::Forbidden(format!(
                "this token acts for device {bound:?} only, not {device:?}"
            ))),
            _ => Ok(()),
        }
    }

    /// Refuses the call unless the caller may use a route needing `access`: 401 without a
    /// valid token, 403 with a token of the wrong scope.
    pub fn require(&self, access: Access, state: &AppState) -> Result<(), ApiError> {
        if state.config.public_read && access.open_with_public_read() {
            return Ok(());
        }
        match &self.0 {
            None => Err(ApiError::Unauthorized),
            Some(t) if access.allows(t.scope) => Ok(()),
            Some(t) => Err(ApiError::Forbidden(format!(
                "a {} token cannot do this; it needs one of: {}",
                t.scope,
                access.scopes().join(", ")
            ))),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Ok(Caller(None));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or(ApiError::Unauthorized)?;
        match state.tokens.verify(token, &state.store).await? {
            Some(t) => Ok(Caller(Some(t))),
            None => Err(ApiError::Unauthorized),
        }
    }
}
