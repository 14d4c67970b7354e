//! A caught panic's message, bounded, for a log line.

/// The payload's text (a `&str` or `String` payload; anything else says so), at most 512
/// characters: a panic message can be anything.
pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    let text = if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.as_str()
    } else {
        "non-string panic payload"
    };
    text.chars().take(512).collect()
}
