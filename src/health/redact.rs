//! Check outputs as they are shown: credentials masked by the crate's one redaction module
//! ([`crate::redact`]), the text joined onto one line and kept short.

/// Longest output kept, in characters.
pub(crate) const MAX_OUTPUT_CHARS: usize = 240;

/// Masks credentials in `text`, joins it onto one line and truncates it.
pub(crate) fn clean_output(text: &str) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    truncate(&crate::redact::text(&one_line), MAX_OUTPUT_CHARS)
}

/// Replaces the password of `scheme://user:password@host` (and the user too) with `***`, and
/// the values of secret keys in its query.
///
/// ```
/// use pulsecheck::health::redact_url;
///
/// assert_eq!(redact_url("postgres://app:hunter2@db:5432/x"), "postgres://***@db:5432/x");
/// assert_eq!(redact_url("redis://h:6379/?password=p"), "redis://h:6379/?password=***");
/// ```
pub fn redact_url(url: &str) -> String {
    crate::redact::text(url)
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_owned(),
        Some((i, _)) => format!("{}…", &s[..i]),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn dsn_credentials_are_masked() {
        assert_eq!(
            clean_output("error connecting to postgres://app:hunter2@db:5432/x: refused"),
            "error connecting to postgres://***@db:5432/x: refused"
        );
        assert_eq!(redact_url("http://host/x?y=1"), "http://host/x?y=1");
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

    proptest! {
        /// A multi-line error with a secret on any line never shows it, truncated or not.
        #[test]
        fn a_secret_never_survives_cleaning(
            key in prop::sample::select(vec![
                "DB_PASSWORD", "PGPASSWORD", "refresh_token", "aws_secret_access_key",
                "private_key", "client_secret", "api-key",
            ]),
            value in "Q7[A-Za-z0-9./+-]{4,24}",
            before in "[a-z \n]{0,300}",
        ) {
            let out = clean_output(&format!("{before}\n{key}={value}\nmore"));
            prop_assert!(!out.contains(&value), "{value} leaked: {out}");
        }
    }
}
