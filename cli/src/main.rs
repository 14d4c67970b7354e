//! The `pulsecheck` command line; everything is in the `pulsecheck_cli` library beside it.
//!
//! Run with: `cargo run --release -p pulsecheck-cli -- load http://127.0.0.1:8080/`

use std::process::ExitCode;

use clap::Parser;
use pulsecheck_cli::{Args, EXIT_ERROR, EXIT_OK, run};

fn main() -> ExitCode {
    let args = Args::parse();
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .try_init();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(code) => code,
        // The reader went away (`| head`): nothing more to say to anyone.
        Err(e) if e.is_broken_pipe() => ExitCode::from(EXIT_OK),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}
