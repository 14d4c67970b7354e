//! Facts about this process read from the OS.

/// Resident set size in bytes, from `/proc/self/status` (Linux); `None` elsewhere.
pub(crate) fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_a_plausible_rss_on_linux() {
        if cfg!(target_os = "linux") {
            let rss = super::rss_bytes().expect("VmRSS");
            assert!(rss > 1024 * 1024 && rss < 64 * 1024 * 1024 * 1024);
        }
    }
}
