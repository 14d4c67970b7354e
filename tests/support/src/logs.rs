//! pulsecheck's JSON log lines captured in memory, for tests that read what was logged.
//!
//! ```
//! let (logs, _guard) = support::logs::capture_logs();
//! tracing::info!(target: "demo", "hello");
//! assert_eq!(logs.lines()[0]["target"], "demo");
//! ```

use std::sync::{Arc, Mutex};

use serde_json::Value;
use tracing_subscriber::layer::SubscriberExt as _;

/// A log writer keeping every byte; clones share the buffer.
#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }

    /// Every line so far, each parsed as JSON.
    pub fn lines(&self) -> Vec<Value> {
        json_lines(&self.text())
    }

    /// The lines written since the last `take`, parsed as JSON; they are removed.
    pub fn take(&self) -> Vec<Value> {
        let bytes = std::mem::take(&mut *self.0.lock().unwrap());
        json_lines(&String::from_utf8(bytes).unwrap())
    }
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// pulsecheck's JSON log layer writing to a [`Capture`], as this thread's default subscriber
/// (every level) until the guard drops.
pub fn capture_logs() -> (Capture, tracing::subscriber::DefaultGuard) {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::registry()
        .with(pulsecheck::telemetry::log_layer(
            pulsecheck::telemetry::LogFormat::Json,
            move || writer.clone(),
        ))
        .with(tracing_subscriber::filter::LevelFilter::TRACE);
    (capture, tracing::subscriber::set_default(subscriber))
}
