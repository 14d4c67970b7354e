//! Instructions per request the pulsecheck layer adds, counted by callgrind: repeatable on a
//! noisy machine, unlike wall-clock time.
//!
//! Run with: `bash benches/instructions.sh` (needs valgrind). It runs each variant twice under
//! `valgrind --tool=callgrind`, with N and 2N requests, and reports
//! (instructions(2N) - instructions(N)) / N, which cancels start-up and set-up costs.
//!
//! Without `PULSE_PROBE_VARIANT` (as under `cargo bench`) it runs every variant once, briefly.

mod common;

use tower::ServiceExt;

fn drive(variant: &str, n: usize) {
    let setup = common::setup(variant);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        for _ in 0..n {
            let resp = setup.app.clone().oneshot(common::request()).await.unwrap();
            std::hint::black_box(resp);
        }
    });
}

fn main() {
    match std::env::var("PULSE_PROBE_VARIANT") {
        Ok(variant) => {
            let n = std::env::var("PULSE_PROBE_N")
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or(1000);
            drive(&variant, n);
        }
        Err(_) => {
            for v in common::VARIANTS {
                drive(v, 100);
            }
        }
    }
}
