use crate::failure::FailureCode;
use thiserror::Error;

/// A rejected input value, naming the field (in the API's camelCase) it came from.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// Prefixes the field with its parent, e.g. `color` inside `theme` becomes `theme.color`.
    pub fn within(self, parent: &str) -> Self {
        Self {
            field: format!("{parent}.{}", self.field),
            message: self.message,
        }
    }
}

/// A command the current state does not allow.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RuleViolation {
    #[error("this {0} already exists")]
    AlreadyExists(&'static str),
    #[error("only pending links can be deleted; this link is {0}")]
    LinkNotPending(&'static str),
    /// The link cannot be used now (already used, expired, revoked); the hosted page says so.
    #[error("{}", .0.as_str())]
    LinkUnusable(FailureCode),
}

impl RuleViolation {
    /// The stable, machine-readable code clients see.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::AlreadyExists(_) => "already_exists",
            Self::LinkNotPending(_) => "link_not_pending",
            Self::LinkUnusable(code) => code.as_str(),
        }
    }
}

/// Why `decide` refused a command.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DomainError {
    /// The command's input breaks a rule about its values; names the field.
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// The entity's current state does not allow the command.
    #[error(transparent)]
    Rule(#[from] RuleViolation),
    /// The command needs an entity that does not exist (or is deleted).
    #[error("{0} not found")]
    NotFound(&'static str),
}
