//! The application's one error type. Adapters map it once: the api to HTTP statuses and our JSON
//! error body, the CLI to messages and exit statuses.

use gangway_domain::{DomainError, FieldError, RuleViolation};
use gangway_event_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// An input value is not acceptable; names the field.
    #[error(transparent)]
    Validation(#[from] FieldError),
    /// No such entity for this organization (foreign ids look the same as unknown ones).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The entity's current state does not allow the command.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// A dependency (Postgres, Meta) cannot be reached right now; retrying may succeed.
    #[error("a dependency is unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(FieldError::new(field, message))
    }

    /// The error a command gives when other writers kept changing its streams.
    pub fn concurrent_modification(what: &str) -> Self {
        Self::Conflict {
            code: "concurrent_modification",
            message: format!("the {what} kept changing; retry the request"),
        }
    }
}

impl From<RuleViolation> for AppError {
    fn from(violation: RuleViolation) -> Self {
        Self::Conflict {
            code: violation.code(),
            message: violation.to_string(),
        }
    }
}

impl From<DomainError> for AppError {
    fn from(error: DomainError) -> Self {
        match error {
            DomainError::Invalid(field) => Self::Validation(field),
            DomainError::Rule(violation) => violation.into(),
            DomainError::NotFound(what) => Self::NotFound(what),
        }
    }
}

impl From<sqlx::Error> for AppError {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                Self::Unavailable(format!("postgres: {error}"))
            }
            other => Self::Internal(other.into()),
        }
    }
}

impl From<StoreError> for AppError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict { .. } => Self::Conflict {
                code: "concurrent_modification",
                message: "the resource was changed concurrently; retry the request".into(),
            },
            StoreError::Database(db) => db.into(),
            other => Self::Internal(other.into()),
        }
    }
}

impl From<gangway_projections::ProjectionError> for AppError {
    fn from(error: gangway_projections::ProjectionError) -> Self {
        match error {
            gangway_projections::ProjectionError::Database(db) => db.into(),
            other => Self::Internal(other.into()),
        }
    }
}

impl From<gangway_vault::VaultError> for AppError {
    fn from(error: gangway_vault::VaultError) -> Self {
        match error {
            gangway_vault::VaultError::Database(db) => db.into(),
            other => Self::Internal(other.into()),
        }
    }
}
