//! Text within receivers' limits: truncation on character boundaries and Slack's escaping.

/// Appended to text that was cut.
const ELLIPSIS: char = '…';

/// `s` cut to at most `max` characters (an ellipsis included when cut).
pub(crate) fn truncate_chars(s: &str, max: usize) -> String {
    if max == 0 {
        return String::new();
    }
    match s.char_indices().nth(max) {
        None => s.to_owned(),
        Some(_) => {
            // Room for the ellipsis: keep max − 1 characters.
            let end = s.char_indices().nth(max - 1).map_or(s.len(), |(i, _)| i);
            let mut out = String::with_capacity(end + ELLIPSIS.len_utf8());
            out.push_str(&s[..end]);
            out.push(ELLIPSIS);
            out
        }
    }
}

/// `s` escaped for Slack's mrkdwn (`&`, `<`, `>` as entities, which is all Slack asks for),
/// then cut to at most `max` characters of *escaped* text, never inside an entity.
#[cfg(feature = "http")]
pub(crate) fn slack_escape(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max * 4));
    let mut used = 0;
    for (i, c) in s.char_indices() {
        let piece = match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            _ => "",
        };
        let width = if piece.is_empty() { 1 } else { piece.len() };
        // Keep one character for the ellipsis unless this is the end of the text.
        let rest_fits = s[i + c.len_utf8()..].is_empty() && used + width <= max;
        if !rest_fits && used + width + 1 > max {
            if used < max {
                out.push(ELLIPSIS);
            }
            return out;
        }
        if piece.is_empty() {
            out.push(c);
        } else {
            out.push_str(piece);
        }
        used += width;
    }
    out
}

/// A receiver's answer, short and on one line, for an error message.
#[cfg(feature = "http")]
pub(crate) fn snippet(body: &str) -> String {
    let line: String = body
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    truncate_chars(line.trim(), 200)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_char_boundaries() {
        assert_eq!(truncate_chars("héllo", 10), "héllo");
        assert_eq!(truncate_chars("héllo", 5), "héllo");
        assert_eq!(truncate_chars("héllo", 3), "hé…");
        assert_eq!(truncate_chars("日本語テキスト", 4), "日本語…");
        assert_eq!(truncate_chars("abc", 0), "");
    }

    #[cfg(feature = "http")]
    #[test]
    fn slack_escaping_never_splits_an_entity() {
        assert_eq!(slack_escape("<script>&", 100), "&lt;script&gt;&amp;");
        assert_eq!(slack_escape("a&b", 5), "a…");
        assert_eq!(slack_escape("a&b", 7), "a&amp;b");
        for max in 1..30 {
            let out = slack_escape("<<<&&&>>>日本", max);
            assert!(out.chars().count() <= max, "{max}: {out}");
            let without = out.trim_end_matches('…');
            for part in without.split('&').skip(1) {
                assert!(
                    part.starts_with("amp;") || part.starts_with("lt;") || part.starts_with("gt;"),
                    "{max}: {out}"
                );
            }
        }
        assert_eq!(slack_escape("abc", 3), "abc");
        assert_eq!(slack_escape("abcd", 3), "ab…");
    }
}
