//! Console sign-ins: an API key exchanged for a session token that only the browser's cookie
//! holds (the database keeps its SHA-256). A session ends when it expires, when its user signs
//! out, or when its key is revoked: every lookup checks the key. Operators sign in to their
//! console with the admin token the same way; their sessions end when the token changes.

use crate::api_keys::verify_api_key;
use crate::AppError;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use gangway_domain::{ApiKeyId, OrganizationId};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

/// How long a console sign-in lasts.
pub const SESSION_LIFETIME: Duration = Duration::hours(8);

/// A signed-in console user: the organization, the key they signed in with, and the token their
/// forms must carry.
#[derive(Clone, Debug)]
pub struct ConsoleSession {
    pub organization: OrganizationId,
    pub api_key: ApiKeyId,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

fn random_token() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Signs in with `api_key`: the new session's token (for the cookie) and the session, or `None`
/// when the key does not work.
pub async fn sign_in(pool: &PgPool, api_key: &str) -> Result<Option<(String, ConsoleSession)>, AppError> {
    let Some((key_id, org)) = verify_api_key(pool, api_key).await? else {
        return Ok(None);
    };
    let token = random_token();
    let session = ConsoleSession {
        organization: org,
        api_key: key_id,
        csrf_token: random_token(),
        expires_at: Utc::now() + SESSION_LIFETIME,
    };
    sqlx::query(
        "INSERT INTO console_sessions (token_hash, organization_id, api_key_id, csrf_token, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash(&token))
    .bind(org.as_uuid())
    .bind(key_id.as_uuid())
    .bind(&session.csrf_token)
    .bind(session.expires_at)
    .execute(pool)
    .await?;
    Ok(Some((token, session)))
}

/// The live session `token` names: not expired, and its key not revoked.
pub async fn find_session(pool: &PgPool, token: &str) -> Result<Option<ConsoleSession>, AppError> {
    let row: Option<(Uuid, Uuid, String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT s.organization_id, s.api_key_id, s.csrf_token, s.expires_at \
         FROM console_sessions s JOIN api_keys k ON k.id = s.api_key_id \
         WHERE s.token_hash = $1 AND s.expires_at > now() AND k.revoked_at IS NULL",
    )
    .bind(token_hash(token))
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(org, key, csrf_token, expires_at)| ConsoleSession {
        organization: OrganizationId::from_uuid(org),
        api_key: ApiKeyId::from_uuid(key),
        csrf_token,
        expires_at,
    }))
}

/// Ends the session `token` names, if any.
pub async fn sign_out(pool: &PgPool, token: &str) -> Result<(), AppError> {
    sqlx::query("DELETE FROM console_sessions WHERE token_hash = $1")
        .bind(token_hash(token))
        .execute(pool)
        .await?;
    Ok(())
}

/// Deletes sessions past their expiry; how many.
pub async fn forget_expired_sessions(pool: &PgPool) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM console_sessions WHERE expires_at <= now()")
            .execute(pool)
            .await?
            .rows_affected(),
    )
}

/// A signed-in operator: only the token their forms must carry.
#[derive(Clone, Debug)]
pub struct OperatorSession {
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

/// Opens an operator session for someone who presented the admin token (checked by the caller);
/// `admin_token_hash` is the current token's SHA-256.
pub async fn sign_in_operator(
    pool: &PgPool,
    admin_token_hash: &[u8],
) -> Result<(String, OperatorSession), AppError> {
    let token = random_token();
    let session = OperatorSession {
        csrf_token: random_token(),
        expires_at: Utc::now() + SESSION_LIFETIME,
    };
    sqlx::query(
        "INSERT INTO ops_sessions (token_hash, admin_token_hash, csrf_token, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(token_hash(&token))
    .bind(admin_token_hash)
    .bind(&session.csrf_token)
    .bind(session.expires_at)
    .execute(pool)
    .await?;
    Ok((token, session))
}

/// The live operator session `token` names, opened under the admin token that is current now.
pub async fn find_operator_session(
    pool: &PgPool,
    token: &str,
    admin_token_hash: &[u8],
) -> Result<Option<OperatorSession>, AppError> {
    let row: Option<(String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT csrf_token, expires_at FROM ops_sessions \
         WHERE token_hash = $1 AND admin_token_hash = $2 AND expires_at > now()",
    )
    .bind(token_hash(token))
    .bind(admin_token_hash)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(csrf_token, expires_at)| OperatorSession {
        csrf_token,
        expires_at,
    }))
}

pub async fn sign_out_operator(pool: &PgPool, token: &str) -> Result<(), AppError> {
    sqlx::query("DELETE FROM ops_sessions WHERE token_hash = $1")
        .bind(token_hash(token))
        .execute(pool)
        .await?;
    Ok(())
}
