//! In JSON mode, a panic is one log line. The default hook writes several lines of text to
//! stderr (32 with `RUST_BACKTRACE=1` for a handler panic), which a log shipper reading JSON
//! lines turns into 32 unparseable records, none carrying the request's ids. This hook logs it
//! through `tracing` instead: the panic message, where, the thread and, when
//! `RUST_BACKTRACE` asks for one, a bounded backtrace as a field; inside a request the line
//! carries its `trace_id` and `request_id` like any other.

use std::backtrace::{Backtrace, BacktraceStatus};
use std::cell::Cell;

/// Longest backtrace kept, in bytes: the first frames say where; a deep async stack can run
/// to hundreds of kilobytes.
const BACKTRACE_BYTES: usize = 8 * 1024;

thread_local! {
    /// Set while this thread is inside the hook: a panic while logging a panic goes to the
    /// previous hook instead of recursing.
    static IN_HOOK: Cell<bool> = const { Cell::new(false) };
}

/// Installs the hook, keeping the previous one for panics raised inside it.
pub(crate) fn install() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if IN_HOOK.with(|h| h.replace(true)) {
            previous(info);
            return;
        }
        let message = crate::panic_text::panic_text(info.payload());
        let location = info
            .location()
            .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
        let thread = std::thread::current();
        let backtrace = Backtrace::capture();
        let backtrace = (backtrace.status() == BacktraceStatus::Captured)
            .then(|| bounded(short(&backtrace.to_string()), BACKTRACE_BYTES));
        tracing::error!(
            target: "pulsecheck::panic",
            location = location.as_deref(),
            thread = thread.name().unwrap_or("<unnamed>"),
            backtrace = backtrace.as_deref(),
            "panicked: {message}"
        );
        IN_HOOK.with(|h| h.set(false));
    }));
}

/// The frames between std's short-backtrace markers, as the default hook prints with
/// `RUST_BACKTRACE=1`: without the hook and unwinding machinery above the panic, nor the
/// runtime below the thread's entry point. The whole text when the markers are missing
/// (`RUST_BACKTRACE=full` keeps them all anyway).
fn short(text: &str) -> String {
    if std::env::var(crate::env::RUST_BACKTRACE).is_ok_and(|v| v == "full") {
        return text.to_owned();
    }
    let lines: Vec<&str> = text.lines().collect();
    let is_frame = |l: &str| {
        let l = l.trim_start();
        l.split_once(':')
            .is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    let from = lines
        .iter()
        .position(|l| l.contains("__rust_end_short_backtrace"))
        .and_then(|end| (end + 1..lines.len()).find(|&i| is_frame(lines[i])))
        .unwrap_or(0);
    let to = lines
        .iter()
        .position(|l| l.contains("__rust_begin_short_backtrace"))
        .filter(|&begin| begin >= from)
        .unwrap_or(lines.len());
    lines[from..to].join("\n")
}

/// `text` cut to at most `max` bytes on a line boundary, saying so.
fn bounded(text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let cut = text[..cut].rfind('\n').unwrap_or(cut);
    format!(
        "{}\n... ({} bytes left out)",
        &text[..cut],
        text.len() - cut
    )
}

#[cfg(test)]
mod tests {
    use super::{bounded, short};

    #[test]
    fn the_short_backtrace_keeps_the_frames_between_the_markers() {
        let text = "   0: pulsecheck::hook\n             at src/hook.rs:1:1\n   \
                    1: std::panicking::begin_panic::{{closure}}\n   \
                    2: std::sys::backtrace::__rust_end_short_backtrace\n             at x.rs:1\n   \
                    3: academy::simulate\n             at examples/academy/api.rs:368:9\n   \
                    4: tokio::task\n   \
                    5: std::sys::backtrace::__rust_begin_short_backtrace\n   \
                    6: std::rt::lang_start\n";
        assert_eq!(
            short(text),
            "   3: academy::simulate\n             at examples/academy/api.rs:368:9\n   4: tokio::task"
        );
        // No markers: everything.
        assert_eq!(short("   0: a\n   1: b\n"), "   0: a\n   1: b");
    }

    #[test]
    fn long_backtraces_are_cut_on_a_line_and_say_so() {
        let text: String = (0..1000).map(|i| format!("{i}: frame é\n")).collect();
        let cut = bounded(text.clone(), 100);
        assert!(cut.len() < 100 + 40, "{}", cut.len());
        assert!(text.starts_with(cut.lines().next().unwrap()));
        let kept = cut.rsplit_once('\n').unwrap().0;
        assert!(
            text.starts_with(kept) && kept.ends_with("frame é"),
            "{kept}"
        );
        assert!(cut.ends_with(&format!("({} bytes left out)", text.len() - kept.len())));
        assert_eq!(bounded("short".into(), 100), "short");
    }
}
