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
    #[error("only pending links can be deleted; this link is {0}")]
    LinkNotPending(&'static str),
    #[error("this link has been deleted")]
    LinkDeleted,
}
