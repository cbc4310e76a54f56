//! API tokens: `flash_<id>_<secret>`. Only a SHA-256 of the secret is stored; a presented token
//! is found by its id and its secret compared in constant time.

use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{Store, StoreError, StoreResult, rfc3339};

/// What a token may do; its name (`read`, ...) is the same on the command line, in the store
/// and in `Display`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    clap::ValueEnum,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Scope {
    /// Read data.
    Read,
    /// Read and write data (architectures, measurements, accuracies, jobs, fits, searches).
    Write,
    /// A device agent: its device and its jobs only.
    Agent,
    /// Everything.
    Admin,
}

#[derive(Debug, Clone, Serialize)]
pub struct TokenInfo {
    pub name: String,
    pub scope: Scope,
    pub created_at: String,
    pub revoked_at: Option<String>,
    /// The device an agent token is bound to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    name: String,
    scope: String,
    created_at: i64,
    revoked_at: Option<i64>,
    device: Option<String>,
}

/// A token that passed verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    pub name: String,
    pub scope: Scope,
    /// The only device an agent token bound to one may act for.
    pub device: Option<String>,
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the operating system provides randomness");
    hex::encode(buf)
}

fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Splits `flash_<id>_<secret>`.
fn split_token(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix("flash_")?;
    let (id, secret) = rest.split_once('_')?;
    (id.len() == 16 && secret.len() == 64).then_some((id, secret))
}

impl Store {
    /// Creates a token and returns its plain text (shown once; only its hash is kept).
    pub async fn create_token(&self, name: &str, scope: Scope) -> StoreResult<String> {
        self.insert_token(name, scope, None).await
    }

    /// Creates an agent token that may register, claim and report for `device` only.
    pub async fn create_device_token(&self, name: &str, device: &str) -> StoreResult<String> {
        self.insert_token(name, Scope::Agent, Some(device)).await
    }

    async fn insert_token(
        &self,
        name: &str,
        scope: Scope,
        device: Option<&str>,
    ) -> StoreResult<String> {
        let (id, secret) = (random_hex(8), random_hex(32));
        sqlx::query(sql!(
            "INSERT INTO api_token (token_id, name, scope, secret_hash, device, created_at) VALUES ($1, $2, $3, $4, $5, {})",
            self.backend.now_ms()
        ))
        .bind(&id)
        .bind(name)
        .bind(<&str>::from(scope))
        .bind(hash_secret(&secret))
        .bind(device)
        .execute(&self.pool)
        .await
        .map_err(|e| {
            if StoreError::is_unique_violation(&e, "uq_api_token_name") || StoreError::is_unique_violation(&e, "api_token.name") {
                StoreError::Conflict(format!("a token named {name:?} exists"))
            } else {
                StoreError::from_sqlx(e)
            }
        })?;
        Ok(format!("flash_{id}_{secret}"))
    }

    /// Revokes the token named `name`; false when there is no live token of that name.
    pub async fn revoke_token(&self, name: &str) -> StoreResult<bool> {
        let n = sqlx::query(sql!(
            "UPDATE api_token SET revoked_at = {} WHERE name = $1 AND revoked_at IS NULL",
            self.backend.now_ms()
        ))
        .bind(name)
        .execute(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?
        .rows_affected();
        Ok(n == 1)
    }

    pub async fn list_tokens(&self) -> StoreResult<Vec<TokenInfo>> {
        let rows: Vec<TokenRow> = sqlx::query_as(
            "SELECT name, scope, created_at, revoked_at, device FROM api_token ORDER BY token_seq",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        rows.into_iter()
            .map(|row| {
                Ok(TokenInfo {
                    name: row.name,
                    scope: parse_scope(&row.scope)?,
                    created_at: rfc3339(row.created_at),
                    revoked_at: row.revoked_at.map(rfc3339),
                    device: row.device,
                })
            })
            .collect()
    }

    pub async fn count_tokens(&self) -> StoreResult<i64> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM api_token")
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::from_sqlx)?;
        Ok(n)
    }

    /// The live token matching `token`, if any.
    pub async fn verify_token(&self, token: &str) -> StoreResult<Option<VerifiedToken>> {
        let Some((id, secret)) = split_token(token) else {
            return Ok(None);
        };
        let row: Option<(String, String, String, Option<String>)> = sqlx::query_as(
            "SELECT name, scope, secret_hash, device FROM api_token WHERE token_id = $1 AND revoked_at IS NULL",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        let Some((name, scope, stored, device)) = row else {
            return Ok(None);
        };
        let presented = hash_secret(secret);
        if bool::from(presented.as_bytes().ct_eq(stored.as_bytes())) {
            Ok(Some(VerifiedToken {
                name,
                scope: parse_scope(&scope)?,
                device,
            }))
        } else {
            Ok(None)
        }
    }
}

fn parse_scope(name: &str) -> StoreResult<Scope> {
    name.parse()
        .map_err(|_| StoreError::Corrupt(format!("unknown token scope {name:?}")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn token_format() {
        let id = "0123456789abcdef";
        let secret = "a".repeat(64);
        assert_eq!(
            super::split_token(&format!("flash_{id}_{secret}")),
            Some((id, secret.as_str()))
        );
        assert_eq!(super::split_token("flash_short_x"), None);
        assert_eq!(super::split_token("Bearer x"), None);
    }
}
