//! Parsers for the Linux `/proc` files the sampler reads. Each takes the file's text, so the
//! parsing is tested on fixed inputs; a malformed or missing field gives `None`, never a panic.

/// Fields of `/proc/self/stat` the sampler uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Stat {
    /// User-mode CPU time, in clock ticks.
    pub(crate) utime_ticks: u64,
    /// Kernel-mode CPU time, in clock ticks.
    pub(crate) stime_ticks: u64,
    /// Threads in the process.
    pub(crate) threads: u64,
    /// Start time after boot, in clock ticks.
    pub(crate) start_ticks: u64,
}

/// Parses `/proc/<pid>/stat`. The command name (field 2) may hold spaces and parentheses,
/// so fields are counted from the last `)`.
pub(crate) fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    // After the name: field 3 (state) is index 0, so field n is index n - 3.
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(Stat {
        utime_ticks: field(14)?,
        stime_ticks: field(15)?,
        threads: field(20)?,
        start_ticks: field(22)?,
    })
}

/// `VmRSS` from `/proc/<pid>/status`, in bytes.
pub(crate) fn parse_status_rss(text: &str) -> Option<u64> {
    kib_field(text, "VmRSS:")
}

/// This process's resident set size in bytes, read now from `/proc/self/status` (Linux);
/// `None` elsewhere. For readers that need the current figure rather than the last sample
/// (the memory health check, `/health/budget`).
pub(crate) fn rss_bytes() -> Option<u64> {
    parse_status_rss(&std::fs::read_to_string("/proc/self/status").ok()?)
}

/// `MemTotal` and `MemAvailable` from `/proc/meminfo`, in bytes.
pub(crate) fn parse_meminfo(text: &str) -> (Option<u64>, Option<u64>) {
    (
        kib_field(text, "MemTotal:"),
        kib_field(text, "MemAvailable:"),
    )
}

/// The 1, 5 and 15 minute load averages from `/proc/loadavg`.
pub(crate) fn parse_loadavg(text: &str) -> Option<[f64; 3]> {
    let mut it = text.split_ascii_whitespace().map(str::parse::<f64>);
    let mut next = || it.next()?.ok().filter(|v| v.is_finite() && *v >= 0.0);
    Some([next()?, next()?, next()?])
}

/// Seconds since boot, the first field of `/proc/uptime`.
pub(crate) fn parse_uptime(text: &str) -> Option<f64> {
    text.split_ascii_whitespace()
        .next()?
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
}

fn kib_field(text: &str, key: &str) -> Option<u64> {
    let kib: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix(key))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    kib.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_plausible_rss_on_linux() {
        if cfg!(target_os = "linux") {
            let rss = rss_bytes().expect("VmRSS");
            assert!(rss > 1024 * 1024 && rss < 64 * 1024 * 1024 * 1024);
        }
    }

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        // A hostile command name with spaces and a `)`; values from a real process.
        let text = "4242 (we ird) name) S 1 4242 4242 0 -1 4194560 1234 0 0 0 \
                    150 37 0 0 20 0 9 0 123456 104857600 2560 18446744073709551615 \
                    1 1 0 0 0 0 0 4096 17610 0 0 0 17 1 0 0 0 0 0\n";
        let s = parse_stat(text).expect("parses");
        assert_eq!(
            s,
            Stat {
                utime_ticks: 150,
                stime_ticks: 37,
                threads: 9,
                start_ticks: 123456
            }
        );
    }

    #[test]
    fn truncated_stat_is_none() {
        assert_eq!(parse_stat("1 (x) S 1 2 3"), None);
        assert_eq!(parse_stat("no parenthesis at all"), None);
        assert_eq!(parse_stat(""), None);
    }

    #[test]
    fn meminfo_reads_total_and_available_in_bytes() {
        let text = "MemTotal:       16318412 kB\nMemFree:         1203044 kB\nMemAvailable:    9876543 kB\n";
        assert_eq!(
            parse_meminfo(text),
            (Some(16318412 * 1024), Some(9876543 * 1024))
        );
        assert_eq!(parse_meminfo("MemTotal: lots kB\n"), (None, None));
    }

    #[test]
    fn loadavg_and_uptime_parse_and_reject_garbage() {
        assert_eq!(
            parse_loadavg("0.52 0.58 0.59 3/1024 12345\n"),
            Some([0.52, 0.58, 0.59])
        );
        assert_eq!(parse_loadavg("0.52 NaN 0.59"), None);
        assert_eq!(parse_loadavg("0.52"), None);
        assert_eq!(parse_uptime("35.5 120.25\n"), Some(35.5));
        assert_eq!(parse_uptime("-1 0"), None);
    }

    #[test]
    fn status_rss_in_bytes() {
        assert_eq!(
            parse_status_rss("Name:\tx\nVmRSS:\t   2048 kB\nThreads:\t3\n"),
            Some(2048 * 1024)
        );
        assert_eq!(parse_status_rss("Name:\tx\n"), None);
    }
}
