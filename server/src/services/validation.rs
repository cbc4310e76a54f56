//! Checks of names and numbers that every part of the service applies the same way.

use flash_core::FieldError;

use crate::error::{ApiError, ApiResult};

/// Rejects text that no name of this service may be: empty, over 128 bytes, or with control
/// characters.
pub fn check_name(field: &str, value: &str) -> ApiResult<()> {
    if value.is_empty() || value.len() > 128 || value.chars().any(char::is_control) {
        Err(ApiError::field(
            field,
            "must be 1 to 128 bytes with no control characters",
        ))
    } else {
        Ok(())
    }
}

/// Device names: 1..=64 characters of letters, digits, `.`, `_` and `-`.
pub fn check_device_name(name: &str) -> ApiResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::field(
            "name",
            "must be 1 to 64 characters of letters, digits, '.', '_' and '-'",
        ))
    }
}

/// Adds an error for `field` unless `value` is absent or a finite positive number.
pub fn positive(errors: &mut Vec<FieldError>, field: String, value: Option<f64>) {
    if let Some(v) = value
        && !(v.is_finite() && v > 0.0)
    {
        errors.push(FieldError::new(field, "must be a positive number"));
    }
}

/// An error for the whole request when any field failed its checks.
pub fn none_failed(errors: Vec<FieldError>) -> ApiResult<()> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(errors))
    }
}

/// A store lookup whose miss is the client's mistake in `field` (a 422 naming it, not a 404).
pub fn found<T>(
    lookup: Result<T, crate::store::StoreError>,
    field: &str,
    message: &str,
) -> ApiResult<T> {
    match lookup {
        Err(crate::store::StoreError::NotFound(_)) => Err(ApiError::field(field, message)),
        other => Ok(other?),
    }
}
