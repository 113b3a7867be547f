//! The api's background loops. Each loop only waits, repeats and stops; the work of one round is
//! a function of the application layer (or, for pure housekeeping, a statement here) that tests
//! call directly.

pub mod expiry;
pub mod health;
pub mod key_revocations;
pub mod receipts;
pub mod vault_hygiene;
