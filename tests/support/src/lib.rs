//! What the integration tests of every package share: real peers (an OTLP receiver, the
//! academy example as a process, Prometheus, an SMTP server, the Stripe/PayPal stand-in,
//! misbehaving TCP servers), private server processes and free ports, the repository's stack
//! files and the tools that check them, pulsecheck's JSON log lines captured in memory, and a
//! `Pulse` built and served as most tests want it.
//!
//! A crate rather than a module each test binary includes, so it is compiled once and every
//! helper exists once; tests name it `support` (`support::academy::Academy`).

pub mod academy;
pub mod cli;
pub mod http;
pub mod logs;
pub mod otlp;
pub mod procs;
pub mod prometheus;
pub mod pulse;
pub mod smtp;
pub mod stack;
pub mod stand_in;
