//! Pieces the benchmark binaries share: a counting webhook sink, the release binaries as child
//! processes, and a relay run in the bench process.

pub mod relay;
pub mod services;
pub mod sink;
