//! Keeps credentials out of everything pulsecheck writes: check outputs (`/health/detailed`,
//! logs, alert messages), span attributes (`url.query`, `url.full`) and the endpoints named in
//! start-up lines. One key list and one matcher serve all of them, so a name recognised as a
//! secret in one place is a secret everywhere.
//!
//! A key is a secret when, compared case-insensitively with its separators removed
//! (`DB_PASSWORD`, `db-password`, `dbPassword` are the same key) and percent-decoded first
//! (`%74oken` is `token`):
//!
//! - it contains one of [`SECRET_PARTS`] (`*password*`, `*token*`, `*secret*`, `*apikey*`, ...),
//! - or one of its words is one of [`SECRET_WORDS`] (`key`, `api_key`, `routing-key`; not
//!   `monkey` or `keyboard`),
//! - or it is exactly one of [`SECRET_KEYS`] (`code`, OAuth's authorization code).
//!
//! Text masks the value with `***`; URL queries use `REDACTED`, the word the OpenTelemetry
//! semantic conventions give for `url.query` and `url.full`.

use std::borrow::Cow;
use std::fmt;

/// What replaces a secret in text (check outputs, log and alert messages).
pub(crate) const TEXT_MASK: &str = "***";
/// What replaces a secret query value in `url.query` and `url.full` (semantic conventions).
pub(crate) const QUERY_MASK: &str = "REDACTED";

/// A key containing one of these (lowercase, separators removed) is a secret.
const SECRET_PARTS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "credential",
    "signature",
    "apikey",
    "accesskey",
    "privatekey",
    "authorization",
    "sessionid",
    "cookie",
];

/// A key with one of these as a whole word (split at separators and camelCase) is a secret.
const SECRET_WORDS: &[&str] = &["pwd", "pass", "auth", "key", "sig", "session", "jwt", "otp"];

/// A key equal to one of these is a secret.
const SECRET_KEYS: &[&str] = &["code"];

/// `Authorization` schemes: the scheme is kept, the credential after it masked.
const AUTH_SCHEMES: &[&str] = &[
    "bearer",
    "basic",
    "token",
    "digest",
    "negotiate",
    "ntlm",
    "apikey",
    "dpop",
];

/// Prefixes of well-known API keys, masked wherever they appear.
const KEY_PREFIXES: &[&str] = &[
    "sk_live_",
    "sk_test_",
    "rk_live_",
    "rk_test_",
    "whsec_",
    "ghp_",
    "gho_",
    "ghs_",
    "ghu_",
    "github_pat_",
    "glpat-",
    "xoxb-",
    "xoxp-",
    "xoxa-",
];

/// A credential: `Debug` prints `***` and there is no `Display`, so it cannot end up in an
/// output, a log line or a `{:?}` by accident.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(Box<str>);

impl Secret {
    pub(crate) fn new(value: impl Into<String>) -> Self {
        Self(value.into().into_boxed_str())
    }

    /// The credential itself, for the one place that sends or compares it.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(TEXT_MASK)
    }
}

/// Whether a key (a query parameter, an environment variable, a JSON field, a header name)
/// names a secret. See the [module docs](self).
pub(crate) fn is_secret_key(key: &str) -> bool {
    let decoded = percent_decode(key);
    let mut flat = String::with_capacity(decoded.len());
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut prev: Option<char> = None;
    let chars: Vec<char> = decoded.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            prev = None;
            continue;
        }
        // camelCase and acronym humps: `accessToken`, `AWSAccessKeyId`.
        let hump = c.is_uppercase()
            && prev.is_some_and(|p| {
                p.is_lowercase()
                    || p.is_ascii_digit()
                    || (p.is_uppercase() && chars.get(i + 1).is_some_and(|n| n.is_lowercase()))
            });
        if hump && !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
        for l in c.to_lowercase() {
            word.push(l);
            flat.push(l);
        }
        prev = Some(c);
    }
    if !word.is_empty() {
        words.push(word);
    }
    SECRET_PARTS.iter().any(|p| flat.contains(p))
        || words.iter().any(|w| SECRET_WORDS.contains(&w.as_str()))
        || SECRET_KEYS.contains(&flat.as_str())
}

/// Masks credentials in free text: `scheme://user:pass@` userinfo, values of secret keys in
/// `key=value`, `key: value` and JSON (`"key":"value"`) forms, `Authorization` credentials
/// after their scheme, PEM private keys, and well-known API key formats.
pub(crate) fn text(s: &str) -> String {
    let s = mask_pem(s);
    let s = mask_userinfo(&s);
    let s = mask_key_values(&s);
    mask_words(&s)
}

/// The query string with the values of secret parameters replaced by `REDACTED`; keys are
/// percent-decoded before matching, and kept as sent.
pub(crate) fn query(q: &str) -> Cow<'_, str> {
    let secret = |pair: &str| {
        pair.split_once('=')
            .is_some_and(|(k, v)| !v.is_empty() && is_secret_key(&k.replace('+', " ")))
    };
    if !q.split('&').any(secret) {
        return Cow::Borrowed(q);
    }
    let mut out = String::with_capacity(q.len());
    for (i, pair) in q.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((k, _)) if secret(pair) => {
                out.push_str(k);
                out.push('=');
                out.push_str(QUERY_MASK);
            }
            _ => out.push_str(pair),
        }
    }
    Cow::Owned(out)
}

/// An endpoint for a log line: no userinfo, no query, no fragment.
pub(crate) fn endpoint(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    if scheme.is_empty() {
        rest.to_owned()
    } else {
        format!("{scheme}://{rest}")
    }
}

/// Decodes `%XX` escapes; invalid escapes are kept as they are.
pub(crate) fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.contains('%') {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| s.get(i + 1..i + 3))
            .flatten()
            .filter(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// `-----BEGIN ... PRIVATE KEY----- body -----END ...-----` -> the body masked (to the end of
/// the text when the block is cut short).
fn mask_pem(s: &str) -> Cow<'_, str> {
    const BEGIN: &str = "-----BEGIN ";
    if !s.contains(BEGIN) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(b) = rest.find(BEGIN) {
        let Some(label_end) = rest[b + BEGIN.len()..].find("-----") else {
            break;
        };
        let header_end = b + BEGIN.len() + label_end + 5;
        out.push_str(&rest[..header_end]);
        out.push_str(TEXT_MASK);
        let body = &rest[header_end..];
        match body.find("-----END ") {
            Some(e) => rest = &body[e..],
            None => {
                rest = "";
                break;
            }
        }
        // Skip the END marker itself so it is not read as a new block.
        let end_len = rest[9..].find("-----").map_or(rest.len(), |l| 9 + l + 5);
        out.push_str(&rest[..end_len]);
        rest = &rest[end_len..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// `scheme://userinfo@` -> `scheme://***@`.
fn mask_userinfo(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => {
                out.push_str(TEXT_MASK);
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'%')
}

/// Where an unquoted value ends.
fn ends_value(c: char) -> bool {
    c.is_whitespace() || matches!(c, '&' | ',' | ';' | '"' | '\'' | ')' | '}' | ']' | '>')
}

/// `password=x`, `DB_PASSWORD: x`, `"accessToken":"x"`, `Authorization: Token x` -> the value
/// (or the credential after the scheme) masked.
fn mask_key_values(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if !is_key_byte(bytes[i]) || (i > 0 && is_key_byte(bytes[i - 1])) {
            i += 1;
            continue;
        }
        let key_end = i + bytes[i..].iter().take_while(|b| is_key_byte(**b)).count();
        let key = &s[i..key_end];
        let Some((value_start, value_end)) = value_after(s, key_end) else {
            i = key_end;
            continue;
        };
        if value_end > value_start && is_secret_key(key) {
            out.push_str(&s[copied..value_start]);
            out.push_str(TEXT_MASK);
            copied = value_end;
            i = value_end;
        } else {
            i = key_end;
        }
    }
    out.push_str(&s[copied..]);
    out
}

/// The byte range of the value after a key ending at `j`: an optional closing quote, `=` or
/// `:` (spaces around), an optional opening quote, an optional `Authorization` scheme. `None`
/// when no separator follows.
fn value_after(s: &str, mut j: usize) -> Option<(usize, usize)> {
    let bytes = s.as_bytes();
    if matches!(bytes.get(j), Some(b'"' | b'\'')) {
        j += 1;
    }
    while bytes.get(j) == Some(&b' ') {
        j += 1;
    }
    if !matches!(bytes.get(j), Some(b'=' | b':')) {
        return None;
    }
    j += 1;
    // `key://` is a URL scheme, not a key.
    if s[j..].starts_with("//") {
        return None;
    }
    while bytes.get(j) == Some(&b' ') {
        j += 1;
    }
    let quote = match bytes.get(j) {
        Some(q @ (b'"' | b'\'')) => {
            j += 1;
            Some(*q)
        }
        // A nested object or list: its own keys are scanned.
        Some(b'{' | b'[') => return None,
        _ => None,
    };
    // `Authorization: Bearer x`: keep the scheme, mask the credential.
    let word_end = j + bytes[j..]
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || **b == b'-')
        .count();
    if bytes.get(word_end) == Some(&b' ')
        && AUTH_SCHEMES
            .iter()
            .any(|scheme| s[j..word_end].eq_ignore_ascii_case(scheme))
    {
        j = word_end;
        while bytes.get(j) == Some(&b' ') {
            j += 1;
        }
    }
    let end = match quote {
        Some(q) => {
            let mut chars = s[j..].char_indices();
            let mut end = s.len();
            while let Some((k, c)) = chars.next() {
                if c == '\\' {
                    chars.next();
                } else if c == char::from(q) {
                    end = j + k;
                    break;
                }
            }
            end
        }
        None => {
            let end = s[j..].find(ends_value).map_or(s.len(), |e| j + e);
            // `token: password: x`: what follows is the next key, not this one's value.
            if s[j..end].ends_with(':') {
                return None;
            }
            end
        }
    };
    Some((j, end))
}

/// `Bearer abc`, `Basic abc` anywhere, well-known API keys and JWTs -> masked.
fn mask_words(s: &str) -> String {
    let mut out = Vec::new();
    let mut mask_next = false;
    for word in s.split(' ') {
        if mask_next && !word.is_empty() {
            out.push(TEXT_MASK.to_owned());
            mask_next = false;
            continue;
        }
        let lw = word.to_ascii_lowercase();
        if lw == "bearer" || lw == "basic" {
            mask_next = true;
            out.push(word.to_owned());
            continue;
        }
        let bare = word.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '_');
        let jwt = bare.starts_with("eyJ") && bare.matches('.').count() == 2;
        if jwt || KEY_PREFIXES.iter().any(|p| bare.starts_with(p)) {
            out.push(word.replace(bare, TEXT_MASK));
            continue;
        }
        out.push(word.to_owned());
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// (input, secret that must not survive, text that must survive).
    const TEXT_CASES: &[(&str, &str, &str)] = &[
        ("DB_PASSWORD=x1secret", "x1secret", "DB_PASSWORD="),
        (
            "PGPASSWORD=pg-pass-1 psql failed",
            "pg-pass-1",
            "psql failed",
        ),
        ("refresh_token=rt.abc.123&x=1", "rt.abc.123", "x=1"),
        (
            "aws_secret_access_key=AbC/dEf+gh",
            "AbC/dEf+gh",
            "aws_secret_access_key=",
        ),
        ("private_key=pk123 other", "pk123", "other"),
        (
            "private_key=-----BEGIN PRIVATE KEY----- MIIBVQIBADANBg -----END PRIVATE KEY----- tail",
            "MIIBVQIBADANBg",
            "tail",
        ),
        (
            r#"{"accessToken":"at-42","user":"bob"}"#,
            "at-42",
            r#""user":"bob""#,
        ),
        (
            "Authorization: Token abc999",
            "abc999",
            "Authorization: Token",
        ),
        ("GET /cb?%74oken=s3cret&page=2", "s3cret", "page=2"),
        // The cases already covered before.
        (
            "error connecting to postgres://app:hunter2@db:5432/x: refused",
            "hunter2",
            "postgres://***@db:5432/x: refused",
        ),
        (
            "redis://:s3cret@127.0.0.1:6379/0",
            "s3cret",
            "@127.0.0.1:6379/0",
        ),
        ("host=db password=hunter2 user=app", "hunter2", "user=app"),
        ("token: abc123 end", "abc123", "end"),
        ("Authorization: Bearer xyz.qq", "xyz.qq", "Bearer"),
        ("charge with sk_live_51Habc failed", "51Habc", "failed"),
        (r#"{"client_secret":"EOx9","other":"fine"}"#, "EOx9", "fine"),
        ("api_key=k1a&x=1", "k1a", "x=1"),
        ("apiKey=k2b other", "k2b", "other"),
        ("X-Api-Key: k3c", "k3c", "X-Api-Key:"),
        ("token: password: pw4d", "pw4d", "token:"),
        ("'password': 'hunter 2'", "hunter 2", "'password':"),
        ("passwd=p1x pwd=p1x", "p1x", "passwd="),
        ("jwt eyJhbGciOi.eyJzdWIi.sig0 seen", "eyJzdWIi", "seen"),
    ];

    #[test]
    fn text_masks_every_known_form() {
        for (input, secret, kept) in TEXT_CASES {
            let out = text(input);
            assert!(
                !out.contains(secret),
                "`{secret}` leaked from `{input}`: `{out}`"
            );
            assert!(out.contains(kept), "`{kept}` lost from `{input}`: `{out}`");
            assert!(
                out.contains(TEXT_MASK),
                "nothing masked in `{input}`: `{out}`"
            );
        }
    }

    #[test]
    fn text_leaves_ordinary_words_alone() {
        for s in [
            "monkey=1 keyboard: 2",
            "http://host/x?y=1",
            "connection refused (os error 111)",
            "status=503 latency: 12ms",
            "password authentication failed for user \"app\"",
        ] {
            assert_eq!(text(s), s);
        }
    }

    #[test]
    fn secret_keys_by_normalized_name() {
        for k in [
            "password",
            "DB_PASSWORD",
            "PGPASSWORD",
            "db-password",
            "dbPassword",
            "refresh_token",
            "accessToken",
            "aws_secret_access_key",
            "AWSAccessKeyId",
            "private_key",
            "privateKey",
            "api_key",
            "X-Api-Key",
            "key",
            "routing_key",
            "client_secret",
            "Authorization",
            "session",
            "sessionId",
            "x-goog-signature",
            "sig",
            "%74oken",
            "code",
            "passphrase",
        ] {
            assert!(is_secret_key(k), "{k} is a secret key");
        }
        for k in [
            "monkey",
            "keyboard",
            "page",
            "user",
            "host",
            "author",
            "zipcode",
            "status",
            "country_code",
            "design",
        ] {
            assert!(!is_secret_key(k), "{k} is not a secret key");
        }
    }

    #[test]
    fn query_values_of_secret_keys_are_redacted() {
        assert_eq!(query("a=1&b=2"), "a=1&b=2");
        assert_eq!(
            query("page=2&api_key=s3cret&Token=abc"),
            "page=2&api_key=REDACTED&Token=REDACTED"
        );
        assert_eq!(query("%74oken=s3cret&x=1"), "%74oken=REDACTED&x=1");
        assert_eq!(query("refresh%5Ftoken=r&x"), "refresh%5Ftoken=REDACTED&x");
        assert_eq!(query("code=abc&state=s"), "code=REDACTED&state=s");
        assert_eq!(query("token=&x=1"), "token=&x=1");
    }

    #[test]
    fn endpoints_lose_userinfo_and_query() {
        assert_eq!(
            endpoint("https://user:pa55@collector:4318/v1/traces?token=x"),
            "https://collector:4318/v1/traces"
        );
        assert_eq!(endpoint("http://c:4317"), "http://c:4317");
        assert_eq!(endpoint("http://c:4317/?next=a@b"), "http://c:4317/");
    }

    #[test]
    fn secret_debug_is_masked() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%40b%2Fc"), "a@b/c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%+1"), "%+1");
    }

    /// A secret key in one of its spellings: case, separator, prefix, percent-encoding.
    fn secret_key() -> impl Strategy<Value = String> {
        let base = prop::sample::select(vec![
            "password",
            "passwd",
            "secret",
            "token",
            "api_key",
            "access_token",
            "refresh_token",
            "client_secret",
            "private_key",
            "secret_access_key",
            "credentials",
            "auth",
            "key",
            "session_id",
        ]);
        let prefix = prop::sample::select(vec!["", "db_", "aws_", "x-", "my."]);
        (base, prefix, any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
            |(base, prefix, upper, dashes, encode_first)| {
                let mut k = format!("{prefix}{base}");
                if dashes {
                    k = k.replace('_', "-");
                }
                if upper {
                    k = k.to_ascii_uppercase();
                }
                if encode_first {
                    let first = k.as_bytes()[0];
                    k = format!("%{first:02X}{}", &k[1..]);
                }
                k
            },
        )
    }

    proptest! {
        /// Whatever the spelling and the form, the value never survives.
        #[test]
        fn a_secret_value_never_appears_in_output(
            key in secret_key(),
            value in "Q7[A-Za-z0-9./+~-]{4,24}",
            form in 0usize..6,
            noise in "[a-z ]{0,20}",
        ) {
            let input = match form {
                0 => format!("{noise} {key}={value} {noise}"),
                1 => format!("{noise}: {key}: {value}, next"),
                2 => format!(r#"{{"{key}":"{value}","n":"{noise}"}}"#),
                3 => format!("GET http://h/p?x=1&{key}={value}&y={noise}"),
                4 => format!("{key} = '{value}'; {noise}"),
                _ => format!("{noise}\n{key}={value}\n"),
            };
            let out = text(&input);
            prop_assert!(!out.contains(&value), "{value} leaked from {input}: {out}");
            if form == 3 {
                let q = input.split_once('?').unwrap().1;
                let redacted = query(q);
                prop_assert!(!redacted.contains(&value), "{value} leaked from {q}: {redacted}");
            }
        }
    }
}
