//! An error with its causes on one line, for messages people read.

/// The error's message with its causes, `a: b: c`, skipping a cause whose text the line
/// already holds (many errors repeat their source in their own message).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(cause) = cur {
        let m = cause.to_string();
        if !out.contains(&m) {
            out.push_str(": ");
            out.push_str(&m);
        }
        cur = cause.source();
    }
    out
}
