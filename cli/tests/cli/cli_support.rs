//! [`support::cli`] with the binary under test: only this package's tests know where cargo put
//! it (`CARGO_BIN_EXE_pulsecheck`).

use std::process::{Command, Output};

pub use support::cli::*;

/// `pulsecheck` with a clean environment.
pub fn pulsecheck() -> Command {
    support::cli::command(env!("CARGO_BIN_EXE_pulsecheck"))
}

/// Runs `pulsecheck args..` to completion.
pub fn run(args: &[&str]) -> Output {
    support::cli::run_to_end(pulsecheck(), args)
}
