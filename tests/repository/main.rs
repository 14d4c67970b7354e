//! The repository's own files: the README's claims and the local stack's configs, checked with the
//! real tools.
//!
//! One test binary for the area; each module was a test file of its own. Shared helpers
//! are in the `support` crate (tests/support).

mod readme;
mod stack_config;
