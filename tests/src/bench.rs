//! Pieces the benchmark binaries share: a counting webhook sink and the release binaries as
//! child processes.

pub mod services;
pub mod sink;
