//! The api's one error type. Client errors carry `{"error": {"code", "message", "field"?}}`;
//! anything unexpected is logged with its context and answered with an opaque 500.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use gangway_app::AppError;
use gangway_domain::{FieldError, RuleViolation};
use gangway_event_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    MalformedJson(String),
    #[error(transparent)]
    Validation(#[from] FieldError),
    #[error("missing or invalid credentials")]
    Unauthorized,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// A request that cannot be processed as sent, for a reason other than a field's value.
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("a dependency is unavailable: {0}")]
    Unavailable(String),
    #[error("too many requests with this API key: at most {} a second", .0.limit)]
    RateLimited(crate::rate_limit::Limited),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// The error body every non-2xx response has.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable code, e.g. `validation_failed`.
    code: &'static str,
    /// What went wrong, for people.
    message: String,
    /// The request field at fault (camelCase, dotted for nested fields), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
}

impl ApiError {
    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(FieldError::new(field, message))
    }

    fn parts(&self) -> (StatusCode, &'static str) {
        match self {
            Self::MalformedJson(_) => (StatusCode::BAD_REQUEST, "invalid_json"),
            Self::Validation(_) => (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::Conflict { code, .. } => (StatusCode::CONFLICT, code),
            Self::Unprocessable { code, .. } => (StatusCode::UNPROCESSABLE_ENTITY, code),
            Self::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "service_unavailable"),
            Self::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal_error"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        let (message, field) = match &self {
            Self::Validation(e) => (e.message.clone(), Some(e.field.clone())),
            Self::Internal(error) => {
                tracing::error!(error = format!("{error:#}"), "request failed");
                ("internal error; it has been logged".to_owned(), None)
            }
            Self::Unavailable(reason) => {
                tracing::warn!(%reason, "dependency unavailable");
                ("a dependency is unavailable; retry shortly".to_owned(), None)
            }
            other => (other.to_string(), None),
        };
        let limited = match &self {
            Self::RateLimited(limited) => Some(*limited),
            _ => None,
        };
        let unavailable = matches!(self, Self::Unavailable(_));
        let body = ErrorBody {
            error: ErrorDetail { code, message, field },
        };
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        if unavailable {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if let Some(limited) = limited {
            // Whole seconds, rounded up: a client that waits this long is let through.
            let wait = limited.retry_after.as_secs() + u64::from(limited.retry_after.subsec_nanos() > 0);
            headers.insert(header::RETRY_AFTER, HeaderValue::from(wait.max(1)));
            headers.insert("ratelimit-limit", HeaderValue::from(limited.limit));
            headers.insert("ratelimit-remaining", HeaderValue::from(0));
            headers.insert("ratelimit-reset", HeaderValue::from(wait.max(1)));
        }
        response
    }
}

/// The one place application errors become HTTP answers.
impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        match error {
            AppError::Validation(e) => Self::Validation(e),
            AppError::NotFound(what) => Self::NotFound(what),
            AppError::Conflict { code, message } => Self::Conflict { code, message },
            AppError::Unavailable(reason) => Self::Unavailable(reason),
            AppError::Internal(error) => Self::Internal(error),
        }
    }
}

/// Errors of the reads the handlers make themselves (read models, audit trails) are classified
/// as the application classifies them.
macro_rules! through_app_error {
    ($($error:ty),*) => {$(
        impl From<$error> for ApiError {
            fn from(error: $error) -> Self {
                AppError::from(error).into()
            }
        }
    )*};
}

through_app_error!(
    RuleViolation,
    sqlx::Error,
    StoreError,
    gangway_projections::ProjectionError,
    gangway_vault::VaultError
);
