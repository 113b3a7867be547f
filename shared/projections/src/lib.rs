//! Read models: the projector and `gangway replay` write them through [`apply`]; the api reads
//! them through [`queries`]. Each row stores the domain state folded with the same `evolve`
//! functions the api uses, plus the stream version it reflects.

mod apply;
pub mod queries;
mod replay;

pub use apply::{apply, apply_all, save_checkpoint, Applied};
pub use replay::{replay, snapshot, ReplayError, ReplayProgress, DEFAULT_REPLAY_BATCH, SHADOW_SCHEMA};

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error(transparent)]
    Store(#[from] gangway_event_store::StoreError),
    #[error(transparent)]
    Codec(#[from] gangway_domain::EventCodecError),
    #[error("read model document could not be (de)serialised: {0}")]
    Document(#[from] serde_json::Error),
    #[error("read model database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("stream {stream_id} is missing version {missing} in the event store")]
    MissingEvents { stream_id: uuid::Uuid, missing: i64 },
}

/// Every read model table, in the order replay clears them.
pub const READ_MODEL_TABLES: [&str; 5] = [
    "rm_organizations",
    "rm_customers",
    "rm_onboarding_links",
    "rm_phones",
    "rm_webhook_endpoints",
];
