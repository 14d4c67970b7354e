//! Instructions per request each layer variant adds, counted under valgrind: repeatable on a
//! noisy machine, unlike wall-clock time.
//!
//! Run with: `bash benches/instructions.sh` (needs valgrind). It runs each variant twice under
//! `valgrind --tool=cachegrind --cache-sim=no`, with N and 2N requests, and reports
//! (instructions(2N) - instructions(N)) / N, which cancels start-up and set-up costs.
//!
//! With `PULSE_PROBE_VARIANT` it drives that variant `PULSE_PROBE_N` times; with
//! `PULSE_PROBE_LIST` it prints the variants; with neither (as under `cargo bench`) it runs
//! every variant once, briefly.

mod common;

use tower::ServiceExt;

fn drive(variant: &str, n: usize) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let setup = {
        let _entered = rt.enter();
        common::setup(variant)
    };
    setup.in_scope(|| {
        rt.block_on(async {
            for _ in 0..n {
                let resp = setup.app.clone().oneshot(common::request()).await.unwrap();
                std::hint::black_box(resp);
            }
        })
    });
    // Deferred work of these requests (batched spans, Prometheus samples) counts too.
    let note = setup.finish();
    eprintln!("{variant} x{n}: {note}");
}

fn main() {
    if std::env::var_os("PULSE_PROBE_LIST").is_some() {
        for v in common::VARIANTS.iter().chain(&common::GLOBAL_VARIANTS) {
            println!("{v}");
        }
        return;
    }
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
