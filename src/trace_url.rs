//! The trace link template ([`PULSE_TRACE_URL`](crate::env::PULSE_TRACE_URL)): where a trace id links to (Jaeger, Tempo through Grafana, any UI that
//! opens a trace from its URL). The dashboard shows each example request's trace id as a link
//! through this template; without it, as plain text.
//!
//! Checked at start so that a typo shows up as a build error naming the variable, not as
//! dead links during an incident.

/// What a template must contain; replaced by the 32-hex-digit trace id.
pub(crate) const PLACEHOLDER: &str = "{trace_id}";

/// Why a template is refused (never echoing a value that carries credentials).
pub(crate) fn check(template: &str) -> Result<(), String> {
    let t = template.trim();
    if t.is_empty() {
        return Err("is empty; unset it for no trace links".to_owned());
    }
    let rest = t
        .strip_prefix("http://")
        .or_else(|| t.strip_prefix("https://"));
    let Some(rest) = rest else {
        return Err(format!(
            "={t:?} must start with http:// or https:// (a link the dashboard opens)"
        ));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(
            "must not carry credentials (user:password@): every dashboard viewer \
                    would see them"
                .to_owned(),
        );
    }
    if authority.is_empty() || authority.starts_with('{') {
        return Err(format!("={t:?} has no host"));
    }
    if t.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("={t:?} contains whitespace"));
    }
    if !t.contains(PLACEHOLDER) {
        return Err(format!(
            "={t:?} must contain {PLACEHOLDER}, e.g. http://localhost:16686/trace/{PLACEHOLDER}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_for_jaeger_and_grafana_pass_and_broken_ones_say_why() {
        check("http://localhost:16686/trace/{trace_id}").unwrap();
        check(
            "https://grafana.example/explore?left=%7B%22queries%22:[%7B%22query%22:%22{trace_id}%22%7D]%7D",
        )
        .unwrap();
        let e = check("http://localhost:16686/trace/").unwrap_err();
        assert!(e.contains("{trace_id}"), "{e}");
        let e = check("localhost:16686/trace/{trace_id}").unwrap_err();
        assert!(e.contains("http://"), "{e}");
        let e = check("javascript:alert(1)//{trace_id}").unwrap_err();
        assert!(e.contains("http://"), "{e}");
        let e = check("https://admin:hunter2@grafana/x/{trace_id}").unwrap_err();
        assert!(e.contains("credentials") && !e.contains("hunter2"), "{e}");
        assert!(check("  ").unwrap_err().contains("empty"));
        assert!(check("http:///{trace_id}").unwrap_err().contains("host"));
        assert!(
            check("http://a/ {trace_id}")
                .unwrap_err()
                .contains("whitespace")
        );
    }
}
