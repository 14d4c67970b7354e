//! Logging never blocks a request, and a panic is one JSON line: the real academy with its
//! stdout a FIFO that is open but never read (a stuck log shipper: the pipe fills and stays
//! full), and with both output streams captured while a handler panics.

use support::procs;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::OpenOptionsExt as _;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The academy process, killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Every line `r` yields, collected on a thread of its own.
fn collect(r: impl std::io::Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    lines
}

fn started(port: u16, academy: &mut Running) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !procs::wait_for_port(port, Duration::from_millis(200)) {
        if let Ok(Some(status)) = academy.0.try_wait() {
            panic!("academy exited with {status} before listening");
        }
        assert!(
            Instant::now() < deadline,
            "academy not listening after 30 s"
        );
    }
}

/// `pulsecheck_log_lines_dropped_total` from a `/metrics` body.
fn dropped_total(metrics: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("pulsecheck_log_lines_dropped_total "))
        .and_then(|v| v.trim().parse().ok())
}

/// A FIFO for the academy's stdout, open at both ends; nothing reads it unless the test does.
struct Fifo {
    dir: std::path::PathBuf,
    reader: std::fs::File,
    writer: Option<std::fs::File>,
}

impl Fifo {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("pulsecheck-fifo-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("stdout");
        let _ = std::fs::remove_file(&path);
        let made = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .expect("mkfifo (coreutils)");
        assert!(made.success(), "mkfifo failed");
        // The reading end first (without O_NONBLOCK the open would wait for a writer).
        let reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .expect("open the FIFO for reading");
        let writer = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .expect("open the FIFO for writing");
        Self {
            dir,
            reader,
            writer: Some(writer),
        }
    }

    /// The academy on loopback, its stdout the FIFO's writing end.
    fn academy(&mut self, envs: &[(&str, &str)]) -> (Running, String) {
        let port = procs::free_port();
        let port_s = port.to_string();
        let mut all = vec![("PORT", port_s.as_str())];
        all.extend_from_slice(envs);
        let mut academy = Running(
            support::academy::command(&all)
                .stdout(Stdio::from(
                    self.writer.take().expect("one academy per FIFO"),
                ))
                .stderr(Stdio::inherit())
                .spawn()
                .expect("spawn academy"),
        );
        started(port, &mut academy);
        (academy, format!("http://127.0.0.1:{port}"))
    }
}

impl Drop for Fifo {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// 1,400 requests from 4 workers, each failing the test past 5 s; returns the slowest.
async fn requests(client: &reqwest::Client, base: &str) -> Duration {
    let mut workers = Vec::new();
    for w in 0..4 {
        let (client, url) = (client.clone(), format!("{base}/api/courses/1"));
        workers.push(tokio::spawn(async move {
            let mut slowest = Duration::ZERO;
            for i in 0..350 {
                let t = Instant::now();
                let resp = client.get(&url).send().await;
                let took = t.elapsed();
                match resp {
                    Ok(r) if r.status() == 200 => {}
                    Ok(r) => panic!("worker {w} request {i}: status {}", r.status()),
                    Err(e) => panic!("worker {w} request {i} failed after {took:?}: {e}"),
                }
                slowest = slowest.max(took);
            }
            slowest
        }));
    }
    let mut slowest = Duration::ZERO;
    for w in workers {
        slowest = slowest.max(w.await.expect("worker"));
    }
    slowest
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// With stdout a full pipe, 1,400 requests all answer, each within 1 s (a correctness bound:
/// before, every handler blocked on its access-log line once the pipe was full); the dropped
/// lines are counted in `/metrics` and over OTLP, and once the pipe is read again a WARN line
/// says how many were lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_stdout_never_blocks_requests_and_drops_are_counted() {
    let receiver = support::otlp::Receiver::start().await;
    let endpoint = receiver.endpoint("http");
    let mut fifo = Fifo::new("requests");
    let (_academy, base) = fifo.academy(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_METRIC_EXPORT_INTERVAL", "500"),
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_LOGS_EXPORTER", "none"),
    ]);
    let client = client();
    let slowest = requests(&client, &base).await;
    eprintln!("1,400 requests with stdout stalled; slowest took {slowest:?}");
    assert!(
        slowest < Duration::from_secs(1),
        "a request took {slowest:?} with stdout stalled"
    );

    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("/metrics")
        .text()
        .await
        .unwrap();
    let dropped = dropped_total(&metrics).expect("pulsecheck_log_lines_dropped_total in /metrics");
    eprintln!("{dropped} log lines dropped");
    assert!(
        dropped > 0.0,
        "1,400 access-log lines into a full pipe and nothing dropped?"
    );
    let exported = support::otlp::wait_for(
        "pulsecheck.log.lines_dropped over OTLP",
        Duration::from_secs(10),
        || {
            use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point::Value};
            receiver
                .store
                .metrics()
                .iter()
                .filter(|m| m.name == "pulsecheck.log.lines_dropped")
                .filter_map(|m| match &m.data {
                    Some(Data::Sum(s)) => s.data_points.last().and_then(|p| p.value),
                    _ => None,
                })
                .map(|v| match v {
                    Value::AsInt(i) => i as f64,
                    Value::AsDouble(d) => d,
                })
                .find(|v| *v > 0.0)
        },
    )
    .await;
    eprintln!("{exported} dropped lines exported over OTLP");

    // The consumer comes back: read the FIFO; the next line written reports the loss.
    let mut reader = fifo.reader.try_clone().unwrap();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = Arc::clone(&lines);
    std::thread::spawn(move || {
        use std::io::Read as _;
        let mut pending = Vec::new();
        let mut buf = [0u8; 65536];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    pending.extend_from_slice(&buf[..n]);
                    while let Some(i) = pending.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = pending.drain(..=i).collect();
                        sink.lock()
                            .unwrap()
                            .push(String::from_utf8_lossy(&line).into_owned());
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(_) => break,
            }
        }
    });
    let report =
        support::otlp::wait_for("the dropped-lines report", Duration::from_secs(10), || {
            lines.lock().unwrap().iter().find_map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).ok()?;
                v["message"]
                    .as_str()?
                    .ends_with("log lines dropped while output was blocked")
                    .then_some(v)
            })
        })
        .await;
    assert_eq!(report["level"], "WARN", "{report}");
    let reported = report["dropped_lines"].as_u64().expect("dropped_lines");
    assert!(reported > 0, "{report}");
    assert!(
        report["message"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{reported} log lines dropped")),
        "{report}"
    );
    // Output flows again: requests are logged.
    let resp = client
        .get(format!("{base}/api/courses/2"))
        .header("x-request-id", "after-the-stall")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    support::otlp::wait_for(
        "the access-log line after the stall",
        Duration::from_secs(10),
        || {
            lines
                .lock()
                .unwrap()
                .iter()
                .any(|l| l.contains("\"request_id\":\"after-the-stall\""))
                .then_some(())
        },
    )
    .await;
}

/// Shutdown stays bounded with stdout stalled: the queued lines cannot be written, so the
/// flush gives up after its bound and the process exits 0. Before, the "shutdown signal
/// received" line itself blocked and the process never exited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_is_bounded_with_stdout_stalled() {
    let mut fifo = Fifo::new("shutdown");
    let (mut academy, base) = fifo.academy(&[]);
    // Fill the pipe and the queue; requests may fail here on the old code, which blocks.
    let client = client();
    for _ in 0..1400 {
        if client
            .get(format!("{base}/api/courses/1"))
            .send()
            .await
            .is_err()
        {
            break;
        }
    }
    let pid = academy.0.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let t0 = Instant::now();
    let status = loop {
        if let Some(status) = academy.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "still running 15 s after SIGTERM with stdout stalled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let took = t0.elapsed();
    eprintln!("exit with stdout stalled took {took:?}");
    assert!(status.success(), "academy exited with {status}");
    // No drain delay, no open connection: only the log flush's 1.2 s bound can be spent.
    assert!(took < Duration::from_secs(4), "exit took {took:?}");
    drop(fifo);
}

/// In JSON mode a handler panic is one JSON line on stdout carrying the panic message, where
/// it happened, the request's ids and (with `RUST_BACKTRACE=1`) a bounded backtrace as a
/// field; nothing is written to stderr. Before, the default hook wrote 32 lines of text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_panic_is_one_json_line() {
    let port = procs::free_port();
    let mut child =
        support::academy::command(&[("PORT", &port.to_string()), ("RUST_BACKTRACE", "1")])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn academy");
    let stdout = collect(child.stdout.take().unwrap());
    let stderr = collect(child.stderr.take().unwrap());
    let mut academy = Running(child);
    started(port, &mut academy);

    let resp = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/api/simulate?panic=true"))
        .header("x-request-id", "panicking-request")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 500);
    let line = support::otlp::wait_for("the panic's log line", Duration::from_secs(10), || {
        stdout.lock().unwrap().iter().find_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            (v["target"] == "pulsecheck::panic").then_some(v)
        })
    })
    .await;
    // Let anything else the panic writes arrive.
    tokio::time::sleep(Duration::from_millis(500)).await;

    assert_eq!(line["level"], "ERROR", "{line}");
    assert_eq!(line["message"], "panicked: simulated panic", "{line}");
    assert_eq!(line["request_id"], "panicking-request", "{line}");
    assert!(
        line["trace_id"].as_str().is_some_and(|t| t.len() == 32),
        "{line}"
    );
    let location = line["location"].as_str().expect("location");
    assert!(location.contains("examples/academy/api.rs:"), "{location}");
    let backtrace = line["backtrace"].as_str().expect("backtrace field");
    assert!(
        backtrace.lines().count() > 3 && backtrace.len() <= 8 * 1024 + 64,
        "{} bytes, {} lines",
        backtrace.len(),
        backtrace.lines().count()
    );
    let out = stdout.lock().unwrap().clone();
    for l in &out {
        assert!(
            serde_json::from_str::<serde_json::Value>(l).is_ok(),
            "a stdout line that is not JSON: {l}"
        );
    }
    let panic_lines = out.iter().filter(|l| l.contains("simulated panic")).count();
    // The panic line, and the access-log line of the 500 that names the panic.
    assert!(panic_lines <= 2, "{panic_lines} lines mention the panic");
    let err = stderr.lock().unwrap().clone();
    assert!(
        err.iter().all(|l| !l.contains("panicked")),
        "the panic went to stderr as text:\n{}",
        err.join("\n")
    );
}
