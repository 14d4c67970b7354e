//! Hostile headers over a real socket: every request is answered 2xx with a fresh, clean id,
//! and nothing the client sent leaks into a log line or breaks the JSON log format.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use support::academy::Academy;

/// Sends one raw HTTP/1.1 request and returns the response head.
fn raw_request(app: &Academy, extra_headers: &[u8]) -> String {
    let mut s = TcpStream::connect(app.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req =
        b"GET /api/courses/1 HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n".to_vec();
    req.extend_from_slice(extra_headers);
    req.extend_from_slice(b"\r\n");
    s.write_all(&req).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    text.split("\r\n\r\n").next().unwrap_or("").to_owned()
}

fn header<'a>(head: &'a str, name: &str) -> Vec<&'a str> {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| k.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
        .collect()
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().filter(|b| *b == b'-').count() == 4
        && s.bytes().all(|b| b == b'-' || b.is_ascii_hexdigit())
}

#[test]
fn hostile_request_ids_get_a_fresh_clean_id() {
    let app = Academy::spawn(&[]);
    let big = format!("x-request-id: {}\r\n", "A".repeat(10 * 1024));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("10 KB id", big.into_bytes()),
        ("empty id", b"x-request-id: \r\n".to_vec()),
        (
            "non-ASCII UTF-8",
            "x-request-id: r\u{e9}q-\u{1f4a5}\r\n".as_bytes().to_vec(),
        ),
        ("raw high bytes", b"x-request-id: \xff\xfe\xfd\r\n".to_vec()),
        ("spaces", b"x-request-id: a b c\r\n".to_vec()),
        (
            "encoded CRLF",
            b"x-request-id: a%0d%0aSet-Cookie:%20x\r\n".to_vec(),
        ),
        (
            "log injection",
            b"x-request-id: \",\"level\":\"ERROR\",\"message\":\"forged\r\n".to_vec(),
        ),
        (
            "two ids, first bad",
            b"x-request-id: bad id\r\nx-request-id: good-id\r\n".to_vec(),
        ),
    ];
    for (what, headers) in &cases {
        let head = raw_request(&app, headers);
        let status = head.lines().next().unwrap_or("");
        assert!(status.starts_with("HTTP/1.1 2"), "{what}: {status}");
        let ids = header(&head, "x-request-id");
        assert_eq!(ids.len(), 1, "{what}: {ids:?}");
        assert!(is_uuid(ids[0]), "{what}: got {:?}", ids[0]);
    }
    std::thread::sleep(Duration::from_millis(200));
    let raw = app.lines.lock().unwrap().clone();
    for line in &raw {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert_ne!(v["message"], "forged", "log injection: {line}");
        assert!(!line.contains("AAAAAAAAAA"), "oversized id reached the log");
        assert!(
            !line.contains("a b c") && !line.contains("%0d%0a"),
            "{line}"
        );
    }
    let access = raw
        .iter()
        .filter(|l| l.contains("request completed"))
        .count();
    assert_eq!(access, cases.len());
}

#[test]
fn malformed_trace_context_over_the_wire_starts_a_new_trace() {
    let app = Academy::spawn(&[]);
    for bad in [
        &b"traceparent: 00-xyz-abc-01\r\n"[..],
        b"traceparent: 00-00000000000000000000000000000000-0000000000000000-00\r\n",
        b"traceparent: \xff\xff\r\n",
        b"tracestate: ,,,===\r\nbaggage: %%%;;;===,,\r\n",
    ] {
        let head = raw_request(&app, bad);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let trace = header(&head, "x-trace-id");
        assert_eq!(trace.len(), 1);
        assert_eq!(trace[0].len(), 32);
        assert!(trace[0].bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(trace[0], "00000000000000000000000000000000");
    }
}
