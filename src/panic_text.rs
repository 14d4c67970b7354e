//! A caught panic's message, bounded, for a log line, a span or a health result: the one
//! place a panic payload becomes text (the layer, the health runner, the alert task and the
//! JSON panic hook all use it).

/// At most this many bytes of a panic message are kept: a panic message can be anything.
pub(crate) const MAX_BYTES: usize = 512;

/// The payload's text (a `&str` or `String` payload; anything else says so), cut to
/// [`MAX_BYTES`] on a character boundary.
pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    let text = if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.as_str()
    } else {
        "non-string panic payload"
    };
    // Cut on a char boundary; std's own helper, so this module needs nothing of the layer's.
    text[..text.floor_char_boundary(MAX_BYTES)].to_owned()
}
