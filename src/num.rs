//! Numbers as people and PromQL read them: `0.08`, not the `0.08000000000000002` that
//! `0.1 * 0.8` prints.

/// `v` rounded to 12 significant digits, printed in its shortest form (`4`, `0.08`, `1e-12`).
/// Twelve digits are far more than any configured limit has and far fewer than the float
/// noise of arithmetic on them.
pub(crate) fn clean(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let rounded: f64 = format!("{v:.11e}").parse().unwrap_or(v);
    // `-0` prints as `-0`.
    let rounded = if rounded == 0.0 { 0.0 } else { rounded };
    rounded.to_string()
}

#[cfg(test)]
mod tests {
    use super::clean;

    #[test]
    fn arithmetic_noise_is_gone_and_values_stay() {
        assert_eq!(clean(0.1 * 0.8), "0.08");
        assert_eq!(clean(0.05 * 0.8 * 100.0), "4");
        assert_eq!(clean(1.0 - 0.999), "0.001");
        assert_eq!(clean(0.3 * 1e3), "300");
        assert_eq!(clean(33.3), "33.3");
        assert_eq!(clean(1e-12), "0.000000000001");
        assert_eq!(clean(2.5e9), "2500000000");
        assert_eq!(clean(-0.0), "0");
        assert_eq!(clean(14.4), "14.4");
    }
}
