//! Span attribute values that repeat from one request to the next (the `Host`, the user agent,
//! the peer of a keep-alive connection), shared instead of copied.
//!
//! Each thread keeps the last value it built for an attribute; a request with the same text
//! (or the same address) gets a reference-counted clone of it, no allocation. A new value is
//! built as before and replaces the old one: the attribute's value is always the request's own.
//! Per thread, so that no lock is taken; the tests below show the sharing.

use std::cell::RefCell;
use std::net::IpAddr;
use std::thread::LocalKey;

use opentelemetry::StringValue;

/// The last text value of one attribute on this thread.
pub(crate) type TextSlot = RefCell<Option<StringValue>>;
/// The last address of one attribute on this thread, and its text.
pub(crate) type IpSlot = RefCell<Option<(IpAddr, StringValue)>>;

thread_local! {
    pub(crate) static SERVER_ADDRESS: TextSlot = const { RefCell::new(None) };
    pub(crate) static USER_AGENT: TextSlot = const { RefCell::new(None) };
    pub(crate) static PEER_ADDRESS: IpSlot = const { RefCell::new(None) };
    pub(crate) static CLIENT_ADDRESS: IpSlot = const { RefCell::new(None) };
}

/// `value` as a shared string: the previous one of `slot` when it has the same text.
pub(crate) fn text(slot: &'static LocalKey<TextSlot>, value: &str) -> StringValue {
    let make = || StringValue::from(std::sync::Arc::<str>::from(value));
    // `try_with`: during thread teardown the slot may be gone; copy as before then.
    slot.try_with(|cell| {
        let Ok(mut last) = cell.try_borrow_mut() else {
            return make();
        };
        match &*last {
            Some(v) if v.as_str() == value => v.clone(),
            _ => last.insert(make()).clone(),
        }
    })
    .unwrap_or_else(|_| make())
}

/// `ip`'s text (as `IpAddr`'s `Display` writes it) as a shared string: the previous one of
/// `slot` when the address is the same.
pub(crate) fn ip(slot: &'static LocalKey<IpSlot>, ip: IpAddr) -> StringValue {
    let make = || StringValue::from(std::sync::Arc::<str>::from(ip.to_string()));
    slot.try_with(|cell| {
        let Ok(mut last) = cell.try_borrow_mut() else {
            return make();
        };
        match &*last {
            Some((a, v)) if *a == ip => v.clone(),
            _ => last.insert((ip, make())).1.clone(),
        }
    })
    .unwrap_or_else(|_| make())
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
