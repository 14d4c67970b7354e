//! Span attribute values that repeat from one request to the next (the `Host`, the user agent,
//! the peer of a keep-alive connection), shared instead of copied.
//!
//! Each thread keeps the last value it built for an attribute; a request with the same text
//! (or the same address, or the same header bytes) gets a reference-counted clone of it, no
//! allocation, and for a header no validation or parsing either. A new value is
//! built as before and replaces the old one: the attribute's value is always the request's own.
//! Per thread, so that no lock is taken; the tests below show the sharing.

use std::cell::RefCell;
use std::net::IpAddr;
use std::sync::Arc;
use std::thread::LocalKey;

use http::HeaderValue;

use opentelemetry::StringValue;

/// The last text value of one attribute on this thread.
pub(crate) type TextSlot = RefCell<Option<StringValue>>;
/// The last address of one attribute on this thread, and its text.
pub(crate) type IpSlot = RefCell<Option<(IpAddr, StringValue)>>;
/// The header's text and limit, and what was made of it.
pub(crate) type HeaderSlot<V> = RefCell<Option<(StringValue, usize, Option<V>)>>;

thread_local! {
    pub(crate) static SERVER_ADDRESS: TextSlot = const { RefCell::new(None) };
    pub(crate) static PEER_ADDRESS: IpSlot = const { RefCell::new(None) };
    pub(crate) static CLIENT_ADDRESS: IpSlot = const { RefCell::new(None) };
    pub(crate) static USER_AGENT_HEADER: HeaderSlot<StringValue> = const { RefCell::new(None) };
    pub(crate) static HOST_HEADER: HeaderSlot<(StringValue, Option<u16>)> =
        const { RefCell::new(None) };
}

/// `value` as a shared string: the previous one of `slot` when it has the same text.
pub(crate) fn text(slot: &'static LocalKey<TextSlot>, value: &str) -> StringValue {
    reuse(
        slot,
        |last| last.as_str() == value,
        || StringValue::from(std::sync::Arc::<str>::from(value)),
        StringValue::clone,
    )
}

/// `ip`'s text (as `IpAddr`'s `Display` writes it) as a shared string: the previous one of
/// `slot` when the address is the same.
pub(crate) fn ip(slot: &'static LocalKey<IpSlot>, ip: IpAddr) -> StringValue {
    reuse(
        slot,
        |(last, _)| *last == ip,
        || {
            (
                ip,
                StringValue::from(std::sync::Arc::<str>::from(ip.to_string())),
            )
        },
        |(_, v)| v.clone(),
    )
}

/// What `parse` makes of a header's text under `limit`, reused while the header's bytes and
/// the limit repeat. `None` for a value that is not text.
pub(crate) fn header<V: Clone>(
    slot: &'static LocalKey<HeaderSlot<V>>,
    value: &HeaderValue,
    limit: usize,
    parse: impl Fn(&str) -> Option<V>,
) -> Option<V> {
    reuse(
        slot,
        |(text, l, _)| *l == limit && text.as_str().as_bytes() == value.as_bytes(),
        || {
            let text = value.to_str().ok();
            let parsed = text.and_then(&parse);
            // A value that is not text is kept as "" and so is never taken as a repeat.
            let key = text.map_or_else(|| StringValue::from(""), |t| Arc::<str>::from(t).into());
            (key, limit, parsed)
        },
        |(_, _, v)| v.clone(),
    )
}

/// The value of `slot`'s entry when `same` holds for it; otherwise a new entry from `make`
/// replaces it. Copies as before when the slot is unavailable (thread teardown, or a
/// re-entrant borrow).
fn reuse<T, R>(
    slot: &'static LocalKey<RefCell<Option<T>>>,
    same: impl Fn(&T) -> bool,
    make: impl Fn() -> T,
    value: impl Fn(&T) -> R,
) -> R {
    slot.try_with(|cell| {
        let Ok(mut last) = cell.try_borrow_mut() else {
            return value(&make());
        };
        match &*last {
            Some(entry) if same(entry) => value(entry),
            _ => value(last.insert(make())),
        }
    })
    .unwrap_or_else(|_| value(&make()))
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        static T: TextSlot = const { RefCell::new(None) };
        static I: IpSlot = const { RefCell::new(None) };
    }

    #[test]
    fn a_repeated_text_is_shared_and_a_new_one_replaces_it() {
        let a = text(&T, "example.com");
        let b = text(&T, "example.com");
        assert_eq!(a.as_str(), "example.com");
        assert!(std::ptr::eq(a.as_str(), b.as_str()), "not shared");
        let c = text(&T, "other.example");
        assert_eq!(c.as_str(), "other.example");
        assert_eq!(text(&T, "example.com").as_str(), "example.com");
        assert_eq!(text(&T, "").as_str(), "");
    }

    #[test]
    fn an_address_keeps_its_display_text() {
        for s in [
            "127.0.0.1",
            "::1",
            "2001:db8::8a2e:370:7334",
            "::ffff:10.0.0.1",
        ] {
            let addr: IpAddr = s.parse().unwrap();
            assert_eq!(ip(&I, addr).as_str(), addr.to_string());
            assert_eq!(ip(&I, addr).as_str(), addr.to_string());
        }
        let a = ip(&I, "10.0.0.1".parse().unwrap());
        let b = ip(&I, "10.0.0.1".parse().unwrap());
        assert!(std::ptr::eq(a.as_str(), b.as_str()), "not shared");
    }
}
