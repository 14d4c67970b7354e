//! SMTP: connect, EHLO, STARTTLS, AUTH and QUIT. No mail is ever sent.

use std::borrow::Cow;
use std::fmt;

use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::extension::ClientId;

use super::{Secret, percent_decode};
use crate::config::ConfigError;
use crate::health::{Check, CheckError, Observation};

const SMTP_PORT: u16 = 25;
const SUBMISSION_PORT: u16 = 587;
const SUBMISSIONS_PORT: u16 = 465;

/// How an [`SmtpCheck`] encrypts the session.
///
/// ```
/// use pulsecheck::health::checks::{SmtpCheck, SmtpTls};
/// let check = SmtpCheck::new("mail.internal", 587).tls(SmtpTls::Required);
/// # let _ = check;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain text throughout; credentials, if any, are sent in clear (a local relay or a
    /// test server). URL: `smtp://...?tls=none`.
    None,
    /// STARTTLS when the server offers it. Credentials are only sent encrypted: a server
    /// that offers no STARTTLS fails the check when credentials are set. URL: `smtp://...`.
    Opportunistic,
    /// STARTTLS, which the server must offer. URL: `smtp://...?tls=required`.
    Required,
    /// TLS from the first byte (SMTPS, port 465). URL: `smtps://...`.
    Wrapper,
}

/// SMTP: connects, reads the greeting, sends EHLO, upgrades with STARTTLS as
/// [`SmtpTls`] says, authenticates when credentials are given, and sends QUIT. It never
/// sends MAIL, RCPT or DATA.
///
/// Name `smtp`, kind `component`, non-critical by default (mail can usually wait).
/// Credentials never appear in outputs or `Debug`.
///
/// ```
/// use pulsecheck::health::checks::{SmtpCheck, SmtpTls};
/// use pulsecheck::health::Check;
///
/// # fn demo() -> Result<(), pulsecheck::config::ConfigError> {
/// let check = SmtpCheck::from_url("smtp://alerts:hunter2@mail.internal:587?tls=required")?;
/// assert_eq!(check.name(), "smtp");
/// assert!(!format!("{check:?}").contains("hunter2"));
///
/// let relay = SmtpCheck::new("127.0.0.1", 25).tls(SmtpTls::None);
/// # let _ = relay;
/// # Ok(()) }
/// # demo().unwrap();
/// ```
#[derive(Clone)]
pub struct SmtpCheck {
    host: String,
    port: u16,
    tls: SmtpTls,
    credentials: Option<(Secret, Secret)>,
    hello: ClientId,
    /// Extra trusted roots, PEM, checked when added.
    roots: Vec<Vec<u8>>,
}

impl SmtpCheck {
    /// `host:port`, with STARTTLS when offered and no AUTH.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Self {
            host: host.into(),
            port,
            tls: SmtpTls::Opportunistic,
            credentials: None,
            hello: default_hello(),
            roots: Vec::new(),
        }
    }

    /// From an `SMTP_URL`: `smtp://[user:pass@]host[:port][?tls=none|opportunistic|required]`
    /// or `smtps://[user:pass@]host[:port]`. The port defaults to 465 for `smtps`, 587 for
    /// `tls=required` and 25 otherwise; `ehlo_name=` sets the EHLO name. Userinfo is
    /// percent-decoded. The error never contains the URL.
    pub fn from_url(url: &str) -> Result<Self, ConfigError> {
        let parsed = url::Url::parse(url).map_err(|e| ConfigError::InvalidUrl(e.to_string()))?;
        let mut tls = match parsed.scheme() {
            "smtp" => SmtpTls::Opportunistic,
            "smtps" => SmtpTls::Wrapper,
            other => return Err(ConfigError::UnsupportedScheme(other.to_owned())),
        };
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| ConfigError::InvalidUrl("no host".into()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let mut hello = None;
        for (key, value) in parsed.query_pairs() {
            match (&*key, &*value) {
                ("tls", "none") if tls != SmtpTls::Wrapper => tls = SmtpTls::None,
                ("tls", "opportunistic") if tls != SmtpTls::Wrapper => {
                    tls = SmtpTls::Opportunistic;
                }
                ("tls", "required") if tls != SmtpTls::Wrapper => tls = SmtpTls::Required,
                ("ehlo_name", name) if !name.is_empty() => hello = Some(name.to_owned()),
                // Only the key: the value might be a secret put in the wrong place.
                (key, _) => return Err(ConfigError::InvalidOption(key.to_owned())),
            }
        }
        let port = parsed.port().unwrap_or(match tls {
            SmtpTls::Wrapper => SUBMISSIONS_PORT,
            SmtpTls::Required => SUBMISSION_PORT,
            SmtpTls::None | SmtpTls::Opportunistic => SMTP_PORT,
        });
        let mut check = Self::new(host, port).tls(tls);
        if !parsed.username().is_empty() || parsed.password().is_some() {
            check = check.credentials(
                percent_decode(parsed.username()),
                percent_decode(parsed.password().unwrap_or("")),
            );
        }
        if let Some(name) = hello {
            check = check.hello_name(name);
        }
        Ok(check)
    }

    /// How the session is encrypted. Defaults to [`SmtpTls::Opportunistic`].
    pub fn tls(mut self, tls: SmtpTls) -> Self {
        self.tls = tls;
        self
    }

    /// Authenticates (PLAIN or LOGIN, whichever the server offers) after the TLS upgrade.
    /// Defaults to no AUTH.
    pub fn credentials(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.credentials = Some((Secret::new(user), Secret::new(password)));
        self
    }

    /// The name sent with EHLO. Defaults to this host's name.
    pub fn hello_name(mut self, name: impl Into<String>) -> Self {
        self.hello = ClientId::Domain(name.into());
        self
    }

    /// Also trusts the certificates in `pem` (a private CA, a self-signed test server), in
    /// addition to the system's roots.
    pub fn root_certificate(mut self, pem: &[u8]) -> Result<Self, ConfigError> {
        let text = String::from_utf8_lossy(pem);
        if !text.contains("-----BEGIN CERTIFICATE-----") {
            return Err(ConfigError::InvalidCertificate(
                "no PEM certificate found".into(),
            ));
        }
        Certificate::from_pem(pem).map_err(|e| ConfigError::InvalidCertificate(e.to_string()))?;
        self.roots.push(pem.to_vec());
        Ok(self)
    }

    fn tls_parameters(&self) -> Result<TlsParameters, CheckError> {
        let mut builder = TlsParameters::builder(self.host.clone());
        for pem in &self.roots {
            builder = builder.add_root_certificate(Certificate::from_pem(pem)?);
        }
        Ok(builder.build_rustls()?)
    }

    pub(crate) fn step(&self, step: &str, e: impl std::error::Error) -> CheckError {
        CheckError::new(format!(
            "{step} {}:{}: {}",
            self.host,
            self.port,
            CheckError::from(e)
        ))
    }
}

impl SmtpCheck {
    /// Connects, upgrades and authenticates as configured: an open session, ready for QUIT
    /// (the check) or for a message (the alert email notifier), and the TLS mode it got
    /// (`implicit`, `starttls` or `none`).
    pub(crate) async fn session(&self) -> Result<(AsyncSmtpConnection, &'static str), CheckError> {
        let wrapper = match self.tls {
            SmtpTls::Wrapper => Some(self.tls_parameters()?),
            _ => None,
        };
        // Connects, reads the greeting and sends EHLO. No connect timeout of its own: the
        // runner's timeout drops the probe (and with it the socket).
        let mut conn = AsyncSmtpConnection::connect_tokio1(
            (self.host.as_str(), self.port),
            None,
            &self.hello,
            wrapper,
            None,
        )
        .await
        .map_err(|e| self.step("connect", e))?;

        let mut upgraded = false;
        let wants_starttls = match self.tls {
            SmtpTls::Required => true,
            SmtpTls::Opportunistic => conn.can_starttls(),
            SmtpTls::None | SmtpTls::Wrapper => false,
        };
        if wants_starttls {
            if !conn.can_starttls() {
                conn.abort().await;
                return Err(CheckError::new(format!(
                    "{}:{} offers no STARTTLS, which is required",
                    self.host, self.port
                )));
            }
            let params = self.tls_parameters()?;
            conn.starttls(params, &self.hello)
                .await
                .map_err(|e| self.step("STARTTLS", e))?;
            upgraded = true;
        }

        let encrypted = conn.is_encrypted();
        if let Some((user, password)) = &self.credentials {
            if !encrypted && self.tls != SmtpTls::None {
                conn.abort().await;
                return Err(CheckError::new(format!(
                    "{}:{} offers no STARTTLS: credentials are not sent in clear \
                     (use tls=none to allow it)",
                    self.host, self.port
                )));
            }
            let credentials =
                Credentials::new(user.expose().to_owned(), password.expose().to_owned());
            conn.auth(&[Mechanism::Plain, Mechanism::Login], &credentials)
                .await
                .map_err(|e| self.step("AUTH", e))?;
        }

        let tls = match (self.tls, upgraded) {
            (SmtpTls::Wrapper, _) => "implicit",
            (_, true) => "starttls",
            _ => "none",
        };
        Ok((conn, tls))
    }
}

impl Check for SmtpCheck {
    async fn check(&self) -> Result<Observation, CheckError> {
        let (mut conn, tls) = self.session().await?;
        conn.quit().await.map_err(|e| self.step("QUIT", e))?;
        Ok(Observation::pass()
            .detail("tls", tls)
            .detail("auth", self.credentials.is_some()))
    }

    fn name(&self) -> Cow<'static, str> {
        "smtp".into()
    }
}

impl fmt::Debug for SmtpCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpCheck")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("auth", &self.credentials.is_some())
            .field("hello", &self.hello)
            .field("extra_roots", &self.roots.len())
            .finish()
    }
}

fn default_hello() -> ClientId {
    match gethostname::gethostname().into_string() {
        Ok(name) if !name.is_empty() => ClientId::Domain(name),
        _ => ClientId::Domain("localhost".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> SmtpCheck {
        SmtpCheck::from_url(url).unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    #[test]
    fn urls_pick_tls_and_ports() {
        let c = parse("smtp://mail.example.com");
        assert_eq!((c.port, c.tls), (25, SmtpTls::Opportunistic));
        let c = parse("smtp://mail.example.com?tls=required");
        assert_eq!((c.port, c.tls), (587, SmtpTls::Required));
        let c = parse("smtp://127.0.0.1:2525?tls=none&ehlo_name=probe.local");
        assert_eq!((c.port, c.tls), (2525, SmtpTls::None));
        assert_eq!(c.hello, ClientId::Domain("probe.local".into()));
        let c = parse("smtps://u%40x:p%2Fw@[::1]");
        assert_eq!(
            (c.host.as_str(), c.port, c.tls),
            ("::1", 465, SmtpTls::Wrapper)
        );
        let (user, password) = c
            .credentials
            .as_ref()
            .map(|(u, p)| (u.expose(), p.expose()))
            .unwrap_or_default();
        assert_eq!((user, password), ("u@x", "p/w"));
    }

    #[test]
    fn bad_urls_are_rejected_without_echoing_them() {
        assert_eq!(
            SmtpCheck::from_url("http://h").err(),
            Some(ConfigError::UnsupportedScheme("http".into()))
        );
        let err = SmtpCheck::from_url("smtp://u:hunter2@h?password=hunter2").err();
        assert_eq!(err, Some(ConfigError::InvalidOption("password".into())));
        assert!(SmtpCheck::from_url("smtps://h?tls=none").is_err());
        let err = SmtpCheck::from_url("smtp://u:hunter2@")
            .err()
            .map(|e| e.to_string());
        assert!(!err.unwrap_or_default().contains("hunter2"));
        assert!(SmtpCheck::new("h", 1).root_certificate(b"nope").is_err());
    }
}
