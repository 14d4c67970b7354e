//! A real SMTP server (Python aiosmtpd, `tests/support/smtp_server.py`) in a child process,
//! recording every command it handles.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use super::procs::free_port;

/// What the server is started with.
#[derive(Default)]
pub struct SmtpOptions<'a> {
    /// `(user, password)`: AUTH required and checked against these.
    pub auth: Option<(&'a str, &'a str)>,
    /// `(cert, key)` PEM files: STARTTLS offered.
    pub starttls: Option<(&'a Path, &'a Path)>,
}

pub struct SmtpServer {
    pub port: u16,
    child: Child,
    _stdin: ChildStdin,
    events: Arc<Mutex<Vec<String>>>,
}

impl SmtpServer {
    /// Starts the server on a free port and waits until it accepts connections. Panics with
    /// the reason when Python or aiosmtpd is missing (`scripts/test.sh` installs it).
    pub fn start(options: SmtpOptions<'_>) -> Self {
        Self::start_with(options, false)
    }

    /// [`start`](Self::start), also recording every message received for
    /// [`messages`](Self::messages).
    #[allow(dead_code)] // cli/tests/academy_e2e.rs
    pub fn start_recording_messages(options: SmtpOptions<'_>) -> Self {
        Self::start_with(options, true)
    }

    fn start_with(options: SmtpOptions<'_>, messages: bool) -> Self {
        let port = free_port();
        // Beside this file, from whichever package of the workspace includes it.
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .map(|d| d.join("tests/support/smtp_server.py"))
            .find(|p| p.is_file())
            .expect("tests/support/smtp_server.py in the workspace");
        let mut cmd = Command::new("python3");
        cmd.arg(&script).arg(port.to_string());
        if let Some((user, password)) = options.auth {
            cmd.arg("--auth").arg(format!("{user}:{password}"));
        }
        if let Some((cert, key)) = options.starttls {
            cmd.arg("--starttls").arg(cert).arg(key);
        }
        if messages {
            cmd.arg("--messages");
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect(
                "python3 runs tests/support/smtp_server.py (needs aiosmtpd: pip install aiosmtpd)",
            );
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let events = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = mpsc::channel();
        let sink = Arc::clone(&events);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line == "READY" {
                    let _ = ready_tx.send(());
                } else {
                    sink.lock().unwrap().push(line);
                }
            }
        });
        if ready_rx.recv_timeout(Duration::from_secs(20)).is_err() {
            let _ = child.kill();
            panic!(
                "the aiosmtpd server did not start (is aiosmtpd installed? pip install aiosmtpd)"
            );
        }
        Self {
            port,
            child,
            _stdin: stdin,
            events,
        }
    }

    /// The messages received (needs [`start_recording_messages`](Self::start_recording_messages)), as JSON objects with `from`,
    /// `to` (a list), `subject` and `body`.
    #[allow(dead_code)] // cli/tests/academy_e2e.rs
    pub fn messages(&self) -> Vec<serde_json::Value> {
        self.events()
            .iter()
            .filter_map(|l| l.strip_prefix("MESSAGE "))
            .filter_map(|j| serde_json::from_str(j).ok())
            .collect()
    }

    /// The commands handled so far, waiting briefly for the last lines to arrive.
    pub fn events(&self) -> Vec<String> {
        std::thread::sleep(Duration::from_millis(200));
        self.events.lock().unwrap().clone()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A throwaway CA and a certificate for 127.0.0.1 signed by it, made with the `openssl` CLI.
pub struct TestPki {
    pub dir: std::path::PathBuf,
    pub ca_pem: Vec<u8>,
}

impl TestPki {
    pub fn cert(&self) -> std::path::PathBuf {
        self.dir.join("server.pem")
    }
    pub fn key(&self) -> std::path::PathBuf {
        self.dir.join("server.key")
    }

    pub fn generate() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "pulsecheck-pki-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let run = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(&dir)
                .output()
                .expect("openssl CLI");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=pulsecheck test CA",
        ]);
        run(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ]);
        std::fs::write(
            dir.join("ext.cnf"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        run(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ]);
        let ca_pem = std::fs::read(dir.join("ca.pem")).unwrap();
        Self { dir, ca_pem }
    }
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
