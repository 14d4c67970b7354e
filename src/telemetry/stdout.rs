//! Log lines reach stdout through a bounded queue and one writer thread, so a consumer that
//! stops reading (a stuck log shipper, Docker's blocking log mode with a dead driver: a full
//! pipe) never blocks a request. Written synchronously, every handler would wait on its
//! access-log line once the pipe's 64 KiB are full.
//!
//! When the queue is full, new lines are dropped and counted
//! (`pulsecheck_log_lines_dropped_total` in `/metrics`, `pulsecheck.log.lines_dropped` over
//! OTLP); once output moves again, the writer thread logs one WARN line saying how many were
//! lost. `tracing-appender`'s `non_blocking` in lossy mode does the queueing.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tracing_appender::non_blocking::{ErrorCounter, NonBlocking, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::fmt::MakeWriter;

/// Lines queued for the writer thread, beyond the pipe's own buffer, before new ones are
/// dropped: about half a megabyte of typical JSON lines. tracing-appender's default (128,000
/// lines) would hold tens of megabytes for a consumer that may never come back.
pub(crate) const BUFFERED_LINES: usize = 1024;

/// Bytes the writer thread gathers before a write to stdout. Its queue is drained line by line
/// and flushed whenever it is empty, so under load one `write` carries many lines instead of
/// one each (stdout alone flushes at every newline: a system call per request), and an idle
/// service's lines still go out at once.
const WRITE_BUFFER: usize = 64 * 1024;

/// How long the shutdown waits for queued lines to be written. tracing-appender's guard waits
/// 100 ms to hand over its stop message and 1 s for the writer thread to finish.
pub(crate) const FLUSH_BOUND: Duration = Duration::from_millis(1200);

/// At most one "lines dropped" report a second: a report dropped in turn is counted and
/// reported with the next.
const REPORT_EVERY: Duration = Duration::from_secs(1);

/// The drop counter of the installed writer (one global subscriber per process), set by
/// [`LogGuard::publish`] once the subscriber is in place.
static DROPPED: OnceLock<ErrorCounter> = OnceLock::new();

/// Where a writer's lines go: the queue, then (after a flush that finished) stdout directly,
/// or nowhere (after a flush that did not: output is stalled and the process is exiting).
const QUEUED: u8 = 0;
const DIRECT: u8 = 1;
const DISCARD: u8 = 2;

/// Lines dropped because stdout was not keeping up, when pulsecheck installed the log writer.
pub(crate) fn lines_dropped() -> Option<u64> {
    DROPPED.get().map(|c| c.dropped_lines() as u64)
}

/// The writer for the log layer and the guard that flushes it.
pub(crate) fn writer() -> (StdoutWriter, LogGuard) {
    let (done_tx, done) = std::sync::mpsc::channel();
    let mode = Arc::new(AtomicU8::new(QUEUED));
    // The queue's counter exists only once the queue does; the writer thread reads it here.
    let own_counter = Arc::new(OnceLock::new());
    let (queue, guard) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(BUFFERED_LINES)
        .thread_name("pulsecheck-log")
        .finish(Reporting {
            out: io::BufWriter::with_capacity(WRITE_BUFFER, io::stdout()),
            reported: 0,
            last_report: None,
            counter: Arc::clone(&own_counter),
            _done: done_tx,
        });
    let counter = queue.error_counter();
    let _ = own_counter.set(counter.clone());
    (
        StdoutWriter {
            queue,
            mode: Arc::clone(&mode),
        },
        LogGuard {
            guard: Some(guard),
            done,
            mode,
            counter,
        },
    )
}

fn register_metric() {
    // Reads the published counter: one series whichever writer is installed.
    let _dropped = crate::instrumentation::meter()
        .u64_observable_counter("pulsecheck.log.lines_dropped")
        .with_unit("{line}")
        .with_description("Log lines dropped because stdout was not keeping up")
        .with_callback(|o| {
            if let Some(n) = lines_dropped() {
                o.observe(n, &[]);
            }
        })
        .build();
}

/// The log layer's [`MakeWriter`]: the queue while it runs, then as its guard's flush decided.
#[derive(Clone)]
pub(crate) struct StdoutWriter {
    queue: NonBlocking,
    mode: Arc<AtomicU8>,
}

/// One line's writer.
pub(crate) enum LineWriter {
    Queued(NonBlocking),
    Direct(io::Stdout),
    Discard,
}

impl Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Queued(q) => q.write(buf),
            Self::Direct(out) => out.write(buf),
            Self::Discard => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Queued(q) => q.flush(),
            Self::Direct(out) => out.flush(),
            Self::Discard => Ok(()),
        }
    }
}

impl<'a> MakeWriter<'a> for StdoutWriter {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> LineWriter {
        match self.mode.load(Ordering::Acquire) {
            QUEUED => LineWriter::Queued(self.queue.clone()),
            DIRECT => LineWriter::Direct(io::stdout()),
            _ => LineWriter::Discard,
        }
    }
}

/// Stdout as the writer thread sees it: before each line, reports the lines dropped since the
/// last report. It runs only when the previous write returned, that is when output moves.
struct Reporting {
    out: io::BufWriter<io::Stdout>,
    reported: usize,
    last_report: Option<Instant>,
    counter: Arc<OnceLock<ErrorCounter>>,
    /// Dropped with the writer thread's state, after it wrote every queued line and its stop
    /// message: the guard's receiver then sees the channel close.
    _done: std::sync::mpsc::Sender<()>,
}

impl Reporting {
    fn report(&mut self) {
        let Some(dropped) = self.counter.get().map(ErrorCounter::dropped_lines) else {
            return;
        };
        if dropped <= self.reported || self.last_report.is_some_and(|t| t.elapsed() < REPORT_EVERY)
        {
            return;
        }
        let lost = dropped - self.reported;
        self.reported = dropped;
        self.last_report = Some(Instant::now());
        // Queued like any line (this thread never writes around the queue's order).
        tracing::warn!(
            target: "pulsecheck::telemetry",
            dropped_lines = lost,
            dropped_lines_total = dropped,
            "{lost} log lines dropped while output was blocked"
        );
    }
}

impl Write for Reporting {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.report();
        self.out.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Keeps the writer thread running; [`LogGuard::flush`] writes out the queue at shutdown.
pub(crate) struct LogGuard {
    guard: Option<WorkerGuard>,
    done: std::sync::mpsc::Receiver<()>,
    mode: Arc<AtomicU8>,
    counter: ErrorCounter,
}

impl LogGuard {
    /// Makes this writer's drop count the one `/metrics` and OTLP report; call it once its
    /// subscriber is installed (a subscriber that failed to install must not take over).
    pub(crate) fn publish(&self) {
        if DROPPED.set(self.counter.clone()).is_ok() {
            register_metric();
        }
    }

    /// Blocking, at most [`FLUSH_BOUND`]: writes out the queued lines and stops the writer
    /// thread. Later lines go straight to stdout if the queue was written out, or nowhere if
    /// stdout is still stalled (a blocking write then could hold the exit).
    ///
    /// The guard is dropped on a thread of its own: tracing-appender prints to stdout when it
    /// cannot hand its stop message to a full queue, which blocks on a stalled pipe. Its drop
    /// also returns after 1.1 s whether or not the lines were written, so completion is read
    /// from the writer thread itself.
    pub(crate) fn flush(&mut self) {
        let Some(guard) = self.guard.take() else {
            return;
        };
        let _ = std::thread::Builder::new()
            .name("pulsecheck-log-flush".into())
            .spawn(move || drop(guard));
        let flushed = matches!(
            self.done.recv_timeout(FLUSH_BOUND),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected)
        );
        self.mode
            .store(if flushed { DIRECT } else { DISCARD }, Ordering::Release);
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.flush();
    }
}
