//! Keeps credentials and noise out of check outputs: DSN passwords, query-string secrets,
//! bearer tokens and API keys are masked; text is one line and short.

/// Longest output kept, in characters.
pub(crate) const MAX_OUTPUT_CHARS: usize = 240;

const SECRET_KEYS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "key",
    "auth",
    "authorization",
    "client_secret",
    "access_token",
];

/// Masks credentials in `text`, joins it onto one line and truncates it.
pub(crate) fn clean_output(text: &str) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let masked = mask_secrets(&one_line);
    truncate(&masked, MAX_OUTPUT_CHARS)
}

/// Replaces the password of `scheme://user:password@host` (and the user too) with `***`.
///
/// ```text
/// postgres://app:hunter2@db:5432/x -> postgres://***@db:5432/x
/// ```
pub fn redact_url(url: &str) -> String {
    mask_secrets(url)
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_owned(),
        Some((i, _)) => format!("{}…", &s[..i]),
    }
}

fn mask_secrets(s: &str) -> String {
    let s = mask_userinfo(s);
    let s = mask_key_values(&s);
    mask_tokens(&s)
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
                out.push_str("***");
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// `password=x`, `token: x`, `"secret":"x"` -> value masked.
fn mask_key_values(s: &str) -> String {
    let lower = s.to_ascii_lowercase();
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    'scan: while i < s.len() {
        for key in SECRET_KEYS {
            if lower[i..].starts_with(key)
                && (i == 0 || !is_word(bytes[i - 1]))
                && !bytes.get(i + key.len()).copied().is_some_and(is_word)
            {
                let mut j = i + key.len();
                // Separator: optional quote, then `=` or `:`, then optional spaces/quote.
                if bytes.get(j) == Some(&b'"') {
                    j += 1;
                }
                while bytes.get(j) == Some(&b' ') {
                    j += 1;
                }
                if !matches!(bytes.get(j), Some(b'=') | Some(b':')) {
                    continue;
                }
                j += 1;
                while matches!(bytes.get(j), Some(b' ') | Some(b'"') | Some(b'\'')) {
                    j += 1;
                }
                // `Authorization: Bearer x`: keep the scheme, mask the credential.
                for scheme in ["bearer ", "basic "] {
                    if lower[j..].starts_with(scheme) {
                        j += scheme.len();
                        while bytes.get(j) == Some(&b' ') {
                            j += 1;
                        }
                    }
                }
                let value_end = s[j..]
                    .find(|c: char| {
                        c.is_whitespace() || matches!(c, '&' | ',' | ';' | '"' | '\'' | ')' | '}')
                    })
                    .map_or(s.len(), |e| j + e);
                if value_end > j {
                    out.push_str(&s[i..j]);
                    out.push_str("***");
                    i = value_end;
                    continue 'scan;
                }
            }
        }
        let c = s[i..].chars().next().unwrap_or(' ');
        out.push(c);
        i += c.len_utf8().max(1);
    }
    out
}

/// `Bearer abc`, `Basic abc`, Stripe-style `sk_live_...` keys -> masked.
fn mask_tokens(s: &str) -> String {
    let mut out = Vec::new();
    let mut mask_next = false;
    for word in s.split(' ') {
        if mask_next && !word.is_empty() {
            out.push("***".to_owned());
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
        if ["sk_live_", "sk_test_", "rk_live_", "rk_test_", "whsec_"]
            .iter()
            .any(|p| bare.starts_with(p))
        {
            out.push(word.replace(bare, "***"));
            continue;
        }
        out.push(word.to_owned());
    }
    out.join(" ")
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dsn_credentials_are_masked() {
        assert_eq!(
            clean_output("error connecting to postgres://app:hunter2@db:5432/x: refused"),
            "error connecting to postgres://***@db:5432/x: refused"
        );
        assert_eq!(
            redact_url("redis://:s3cret@127.0.0.1:6379/0"),
            "redis://***@127.0.0.1:6379/0"
        );
        assert_eq!(redact_url("http://host/x?y=1"), "http://host/x?y=1");
    }

    #[test]
    fn key_values_tokens_and_keys_are_masked() {
        let out = clean_output(
            "host=db password=hunter2 user=app; token: abc123 Authorization: Bearer xyz.qq sk_live_51Habc",
        );
        for secret in ["hunter2", "abc123", "xyz.qq", "51Habc"] {
            assert!(!out.contains(secret), "{secret} leaked in {out}");
        }
        assert!(out.contains("host=db") && out.contains("user=app"), "{out}");
        let json = clean_output(r#"{"client_secret":"EOx9","other":"fine"}"#);
        assert!(!json.contains("EOx9") && json.contains("fine"), "{json}");
        // A word that merely contains a key is left alone.
        assert_eq!(clean_output("monkey=1 keyboard: 2"), "monkey=1 keyboard: 2");
    }

    #[test]
    fn output_is_one_short_line() {
        let long = "x".repeat(1000);
        let out = clean_output(&format!("a\nb\r\t{long}"));
        assert!(!out.contains('\n') && !out.contains('\r'));
        assert_eq!(out.chars().count(), MAX_OUTPUT_CHARS + 1);
        // Never splits a multi-byte character.
        let wide = "é".repeat(500);
        assert!(clean_output(&wide).ends_with('…'));
    }
}
