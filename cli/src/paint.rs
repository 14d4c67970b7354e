//! Colors for terminal output: on for a terminal unless `NO_COLOR` is set, or as `--color` says.

use std::io::IsTerminal;

/// `--color`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colors when writing to a terminal and `NO_COLOR` is unset.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Wraps text in ANSI colors, or not.
#[derive(Clone, Copy, Debug)]
pub struct Paint {
    on: bool,
}

impl Paint {
    /// For stdout.
    pub fn stdout(choice: ColorChoice) -> Self {
        let on = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
            }
        };
        Self { on }
    }

    fn wrap(self, code: &str, s: impl std::fmt::Display) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    /// Green: passed, healthy.
    pub fn green(self, s: impl std::fmt::Display) -> String {
        self.wrap("32", s)
    }
    /// Yellow: warnings.
    pub fn yellow(self, s: impl std::fmt::Display) -> String {
        self.wrap("33", s)
    }
    /// Red: failures.
    pub fn red(self, s: impl std::fmt::Display) -> String {
        self.wrap("31", s)
    }
    /// Cyan: bars and figures.
    pub fn cyan(self, s: impl std::fmt::Display) -> String {
        self.wrap("36", s)
    }
    /// Bold: headings.
    pub fn bold(self, s: impl std::fmt::Display) -> String {
        self.wrap("1", s)
    }
    /// Dim: notes.
    pub fn dim(self, s: impl std::fmt::Display) -> String {
        self.wrap("2", s)
    }
}

/// `12,345`.
pub(crate) fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Milliseconds with sensible precision: `0.084`, `1.25`, `812.3`, `1,204`.
pub(crate) fn ms(v: f64) -> String {
    if v < 1.0 {
        format!("{v:.3}")
    } else if v < 100.0 {
        format!("{v:.2}")
    } else if v < 1000.0 {
        format!("{v:.1}")
    } else {
        thousands(v.round() as u64)
    }
}

/// `1.2 KiB`, `3.4 MiB`.
pub(crate) fn bytes(n: u64) -> String {
    let n = n as f64;
    if n < 1024.0 {
        format!("{n} B")
    } else if n < 1024.0 * 1024.0 {
        format!("{:.1} KiB", n / 1024.0)
    } else if n < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} MiB", n / 1024.0 / 1024.0)
    } else {
        format!("{:.2} GiB", n / 1024.0 / 1024.0 / 1024.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(ms(0.0844), "0.084");
        assert_eq!(ms(1204.4), "1,204");
        assert_eq!(bytes(2048), "2.0 KiB");
        let p = Paint { on: false };
        assert_eq!(p.red("x"), "x");
        let p = Paint { on: true };
        assert_eq!(p.red("x"), "\x1b[31mx\x1b[0m");
    }
}
