//! The `Pulse` facade: one builder wires telemetry and the request layer.

use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use crate::alert::notify::Dispatcher;
use crate::alert::{AlertEvent, AlertSources, Alerts};

/// How long [`Pulse::shutdown`] waits for queued alert notifications.
const NOTIFY_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(3);
use crate::config::{Budgets, ConfigError, PulseConfig, Slo};
use crate::env;
use crate::health::{Health, HealthBuilder, HealthConfig, Registration, Transition};
use crate::layer::{PulseLayer, Recorder, RequestRecord};
use crate::redact::Secret;
use crate::telemetry::{ShutdownError, Telemetry, TelemetryBuilder, TelemetryError};
use crate::window::{Aggregator, AggregatorConfig};

/// Why [`PulseBuilder::build`] failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Telemetry could not start.
    #[error(transparent)]
    Telemetry(#[from] TelemetryError),
    /// Budgets or SLOs are misconfigured.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A background thread could not start.
    #[error("cannot start the aggregator's ticker thread: {0}")]
    Ticker(#[source] std::io::Error),
    /// The system sampler could not start (or `PULSE_SYSTEM_INTERVAL` is invalid).
    #[error(transparent)]
    System(#[from] crate::system::SystemError),
    /// The admin token (`PULSE_ADMIN_TOKEN` or [`PulseBuilder::admin_token`]) is unusable.
    /// An empty value is an error, not "no authentication": a templating slip must not open
    /// the admin endpoints.
    #[error("the admin token ({origin}) {reason}")]
    AdminToken {
        /// `PULSE_ADMIN_TOKEN` or `PulseBuilder::admin_token`.
        origin: &'static str,
        /// What is wrong with it (never the value).
        reason: &'static str,
    },
    /// An alert notifier variable (`PULSE_WEBHOOK_URL`, `PULSE_SLACK_WEBHOOK_URL`...) is
    /// invalid, or notifiers are configured outside a Tokio runtime.
    #[error(transparent)]
    Notify(#[from] crate::alert::notify::NotifyConfigError),
    /// A health group includes a name that is no registered check.
    #[error(transparent)]
    HealthGroup(#[from] crate::health::UnknownMember),
    /// `PULSE_TRUSTED_PROXIES` lists something that is not an IP address or CIDR range.
    #[error(transparent)]
    TrustedProxies(#[from] crate::layer::TrustedProxiesError),
    /// The trace link template (`PULSE_TRACE_URL` or [`PulseBuilder::trace_url`]) is not an
    /// http(s) URL containing `{trace_id}`.
    #[error("the trace link template {origin}{reason}")]
    TraceUrl {
        /// `PULSE_TRACE_URL` or `PulseBuilder::trace_url`.
        origin: &'static str,
        /// What is wrong with it (with the value, unless it carries credentials).
        reason: String,
    },
    /// `PULSE_DRAIN_DELAY` is not a duration.
    #[error("PULSE_DRAIN_DELAY={value:?} is not a duration such as `5s` or `500ms`")]
    DrainDelay {
        /// The rejected value.
        value: String,
    },
    /// `PULSE_SHUTDOWN_DEADLINE` is not a duration.
    #[error("PULSE_SHUTDOWN_DEADLINE={value:?} is not a duration such as `10s` or `500ms`")]
    ShutdownDeadline {
        /// The rejected value.
        value: String,
    },
}

/// The trace link template, validated: `None` when neither the builder nor the environment
/// sets one (a blank variable counts as unset, as for the other optional variables).
fn trace_url(from_builder: Option<String>) -> Result<Option<Arc<str>>, Error> {
    let (origin, template) = match from_builder {
        Some(t) => ("PulseBuilder::trace_url", t),
        None => match std::env::var(env::PULSE_TRACE_URL) {
            Ok(v) if !v.trim().is_empty() => (env::PULSE_TRACE_URL, v),
            Ok(_) | Err(std::env::VarError::NotPresent) => return Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(Error::TraceUrl {
                    origin: env::PULSE_TRACE_URL,
                    reason: " is not valid UTF-8".to_owned(),
                });
            }
        },
    };
    crate::trace_url::check(&template).map_err(|reason| Error::TraceUrl {
        origin,
        reason: if reason.starts_with('=') {
            reason
        } else {
            format!(" {reason}")
        },
    })?;
    Ok(Some(Arc::from(template.trim())))
}

/// The configured admin token, validated: `None` when neither the builder nor the
/// environment sets one.
fn admin_token(from_builder: Option<Secret>) -> Result<Option<Secret>, Error> {
    let (origin, token) = match from_builder {
        Some(t) => ("PulseBuilder::admin_token", t),
        None => match std::env::var(env::PULSE_ADMIN_TOKEN) {
            Ok(v) => (env::PULSE_ADMIN_TOKEN, Secret::new(v)),
            Err(std::env::VarError::NotPresent) => return Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(Error::AdminToken {
                    origin: env::PULSE_ADMIN_TOKEN,
                    reason: "is not valid UTF-8",
                });
            }
        },
    };
    let t = token.expose();
    if t.trim().is_empty() {
        return Err(Error::AdminToken {
            origin,
            reason: "is empty; unset it to leave the admin endpoints open, or set a token",
        });
    }
    // It travels as `Authorization: Bearer <token>`: visible ASCII only, no spaces.
    if !t.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::AdminToken {
            origin,
            reason: "must be visible ASCII without spaces (it is sent in an HTTP header)",
        });
    }
    if t.len() < 16 {
        tracing::warn!(
            target: "pulsecheck",
            length = t.len(),
            "the admin token is shorter than 16 characters; use a long random value"
        );
    }
    Ok(Some(token))
}

/// Builds a [`Pulse`]. See the [crate docs](crate) for an example.
#[derive(Debug)]
pub struct PulseBuilder {
    telemetry: Option<TelemetryBuilder>,
    layer: PulseLayer,
    config: Option<PulseConfig>,
    budgets: Option<Budgets>,
    slos: Vec<Slo>,
    monitoring_routes: Vec<String>,
    health_groups: Vec<(String, Vec<String>)>,
    count_monitoring: Option<bool>,
    recorder: Option<Arc<dyn Recorder>>,
    health: HealthBuilder,
    version: Option<String>,
    drain_delay: Option<Duration>,
    shutdown_deadline: Option<Duration>,
    prometheus_route: bool,
    system_interval: Option<Duration>,
    service_name: Option<String>,
    alert_listeners: AlertListeners,
    admin_token: Option<Secret>,
    notifications: Option<Dispatcher>,
    trace_url: Option<String>,
}

#[derive(Default)]
struct AlertListeners(Vec<AlertListener>);

type AlertListener = Box<dyn Fn(&AlertEvent) + Send + Sync>;

impl std::fmt::Debug for AlertListeners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} alert listeners", self.0.len())
    }
}

impl std::fmt::Debug for dyn Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Recorder")
    }
}

impl Default for PulseBuilder {
    fn default() -> Self {
        Self {
            telemetry: Some(Telemetry::builder()),
            layer: PulseLayer::new(),
            config: None,
            budgets: None,
            slos: Vec::new(),
            monitoring_routes: Vec::new(),
            health_groups: Vec::new(),
            count_monitoring: None,
            recorder: None,
            health: Health::builder(),
            version: None,
            drain_delay: None,
            shutdown_deadline: None,
            prometheus_route: true,
            system_interval: None,
            service_name: None,
            alert_listeners: AlertListeners::default(),
            notifications: None,
            admin_token: None,
            trace_url: None,
        }
    }
}

impl PulseBuilder {
    /// `service.name` when `OTEL_SERVICE_NAME` is unset.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.service_name = Some(name.clone());
        self.telemetry = self.telemetry.map(|t| t.service_name(name));
        self
    }

    /// `service.version`.
    pub fn service_version(mut self, version: impl Into<String>) -> Self {
        let version = version.into();
        self.version = Some(version.clone());
        self.telemetry = self.telemetry.map(|t| t.service_version(version));
        self
    }

    /// Registers a dependency check: a bare [`Check`](crate::health::Check) or a configured
    /// [`Registration`] (`PostgresCheck::new(pool).critical()`).
    pub fn check(mut self, check: impl Into<Registration>) -> Self {
        self.health = self.health.check(check);
        self
    }

    /// Health runner settings (concurrency, background or on-demand refresh).
    pub fn health_config(mut self, config: HealthConfig) -> Self {
        self.health = self.health.config(config);
        self
    }

    /// Called once per status change of a check, off the request path.
    pub fn on_health_transition(mut self, f: impl Fn(&Transition) + Send + Sync + 'static) -> Self {
        self.health = self.health.on_transition(f);
        self
    }

    /// Called for every alert that starts firing or resolves, on the alert evaluation task
    /// (see [`crate::alert`]). Keep it quick; a panic is contained.
    pub fn on_alert(mut self, f: impl Fn(&AlertEvent) + Send + Sync + 'static) -> Self {
        self.alert_listeners.0.push(Box::new(f));
        self
    }

    /// Where alert notifications go, in place of the notifiers the environment configures
    /// (`PULSE_WEBHOOK_URL`, `PULSE_SLACK_WEBHOOK_URL`, `PULSE_PAGERDUTY_ROUTING_KEY`,
    /// `PULSE_ALERTMANAGER_URL`, `PULSE_ALERT_EMAIL_TO`). Start from
    /// `Dispatcher::builder().with_env(service)?` to keep those and add your own.
    pub fn notifications(mut self, dispatcher: Dispatcher) -> Self {
        self.notifications = Some(dispatcher);
        self
    }

    /// Whether [`Pulse::routes`] includes `GET /metrics` (default `true`). Turn it off when
    /// the service already serves its own `/metrics` (axum's router refuses two handlers for
    /// one path).
    pub fn prometheus_route(mut self, on: bool) -> Self {
        self.prometheus_route = on;
        self
    }

    /// Require `Authorization: Bearer <token>` on every endpoint of [`Pulse::routes`] except
    /// `/health`, `/health/live` and `/health/ready` (and show `/health`'s per-check details
    /// only to callers with the token). Defaults to `PULSE_ADMIN_TOKEN`; without either the
    /// endpoints are open. [`build`](Self::build) fails on a blank token.
    ///
    /// ```
    /// use pulsecheck::Pulse;
    /// let err = Pulse::builder().without_telemetry().admin_token("  ").build().unwrap_err();
    /// assert!(err.to_string().contains("empty"));
    /// ```
    pub fn admin_token(mut self, token: impl Into<String>) -> Self {
        self.admin_token = Some(Secret::new(token));
        self
    }

    /// Where the dashboard links trace ids: a URL template containing `{trace_id}`, such as
    /// `http://localhost:16686/trace/{trace_id}` for Jaeger or a Grafana Explore URL for
    /// Tempo. Defaults to [`PULSE_TRACE_URL`](crate::env::PULSE_TRACE_URL); without either, trace
    /// ids are shown without a link. [`build`](Self::build) fails on a template that is not
    /// an http(s) URL with `{trace_id}` in it.
    ///
    /// ```
    /// use pulsecheck::Pulse;
    /// let err = Pulse::builder().without_telemetry().trace_url("http://jaeger/trace/").build();
    /// assert!(err.unwrap_err().to_string().contains("{trace_id}"));
    /// ```
    pub fn trace_url(mut self, template: impl Into<String>) -> Self {
        self.trace_url = Some(template.into());
        self
    }

    /// Time between the shutdown signal and [`Pulse::shutdown_signal`] completing, while
    /// readiness already answers 503. Default 5 s, or `PULSE_DRAIN_DELAY`.
    pub fn drain_delay(mut self, delay: Duration) -> Self {
        self.drain_delay = Some(delay);
        self
    }

    /// How long [`Pulse::serve`] lets open connections finish after the drain delay; those
    /// still open then (a client holding a half-sent body, a stuck handler) are closed so the
    /// flush can run. Default 10 s, or `PULSE_SHUTDOWN_DEADLINE`.
    pub fn shutdown_deadline(mut self, deadline: Duration) -> Self {
        self.shutdown_deadline = Some(deadline);
        self
    }

    /// How often process and host resources are sampled for `/health/system`, `/metrics`
    /// and the OTel `process.*`/`system.*` gauges (at least 100 ms). Defaults to 30 s, or
    /// `PULSE_SYSTEM_INTERVAL`.
    pub fn system_interval(mut self, interval: Duration) -> Self {
        self.system_interval = Some(interval);
        self
    }

    /// Replace the telemetry configuration. Defaults to [`Telemetry::builder`].
    pub fn telemetry(mut self, telemetry: TelemetryBuilder) -> Self {
        self.telemetry = Some(telemetry);
        self
    }

    /// Keep the service's own OpenTelemetry providers and subscriber: pulsecheck installs
    /// nothing global, and the layer uses whatever providers are installed.
    pub fn without_telemetry(mut self) -> Self {
        self.telemetry = None;
        self
    }

    /// Configure the request layer. Defaults to [`PulseLayer::new`].
    pub fn layer(mut self, layer: PulseLayer) -> Self {
        self.layer = layer;
        self
    }

    /// The proxies whose `X-Forwarded-For` is believed for `client.address` and the audit log
    /// (the same as [`PulseLayer::trusted_proxies`]). Defaults to
    /// [`PULSE_TRUSTED_PROXIES`](crate::env::PULSE_TRUSTED_PROXIES), else none: the client is
    /// the socket peer.
    pub fn trusted_proxies(mut self, proxies: crate::layer::TrustedProxies) -> Self {
        self.layer = self.layer.trusted_proxies(proxies);
        self
    }

    /// Also hand each finished request to `recorder` (the aggregator always gets it).
    pub fn recorder(mut self, recorder: impl Recorder) -> Self {
        self.recorder = Some(Arc::new(recorder));
        self
    }

    /// Budgets, SLOs and error policy. Defaults to [`PulseConfig::load`]: `pulsecheck.toml`
    /// (or `PULSE_CONFIG`) with `PULSE_BUDGET_*` overrides.
    pub fn config(mut self, config: PulseConfig) -> Self {
        self.config = Some(config);
        self
    }

    /// Replace the budgets of the configuration.
    pub fn budget(mut self, budgets: Budgets) -> Self {
        self.budgets = Some(budgets);
        self
    }

    /// Add an SLO to the configuration.
    pub fn slo(mut self, slo: Slo) -> Self {
        self.slos.push(slo);
        self
    }

    /// Treat a route template of the service's own as monitoring traffic, like pulsecheck's
    /// endpoints: left out of the service-wide figures, budgets, SLOs and alerts, still shown
    /// per route (adds to `[monitoring] exclude`).
    pub fn monitoring_route(mut self, template: impl Into<String>) -> Self {
        self.monitoring_routes.push(template.into());
        self
    }

    /// Serves the checks `include` as health group `name`: `GET /health/group/{name}` (200
    /// while every member is up, 503 when one is down, whatever the members' own criticality)
    /// and the gRPC health service `group/{name}`. Replaces a `[health.groups.NAME]` of the
    /// same name from `pulsecheck.toml`. [`build`](Self::build) fails when a member is not a
    /// registered check.
    ///
    /// ```
    /// # use pulsecheck::{Pulse, health::{Check, CheckError, Observation}};
    /// # struct Redis;
    /// # impl Check for Redis {
    /// #     fn name(&self) -> std::borrow::Cow<'static, str> { "redis".into() }
    /// #     async fn check(&self) -> Result<Observation, CheckError> { Ok(Observation::pass()) }
    /// # }
    /// let built = Pulse::builder().without_telemetry().check(Redis)
    ///     .health_group("cache", ["redis", "memcached"]).build();
    /// let error = built.unwrap_err().to_string();
    /// assert!(error.contains("`cache`") && error.contains("`memcached`"), "{error}");
    /// ```
    pub fn health_group<I, S>(mut self, name: impl Into<String>, include: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.health_groups
            .push((name.into(), include.into_iter().map(Into::into).collect()));
        self
    }

    /// Count monitoring traffic (pulsecheck's endpoints and the monitoring routes) in the
    /// service-wide figures like any other (overrides `[monitoring] count_monitoring`).
    /// Defaults to `false`.
    pub fn count_monitoring(mut self, on: bool) -> Self {
        self.count_monitoring = Some(on);
        self
    }

    /// Starts telemetry (unless disabled) and the aggregator, and returns the facade.
    pub fn build(self) -> Result<Pulse, Error> {
        let mut config = match self.config {
            Some(c) => c,
            None => PulseConfig::load()?,
        };
        if let Some(b) = self.budgets {
            config.budgets = b;
        }
        config.slo.extend(self.slos);
        config.monitoring.exclude.extend(self.monitoring_routes);
        if let Some(on) = self.count_monitoring {
            config.monitoring.count_monitoring = on;
        }
        for (name, include) in self.health_groups {
            config
                .health
                .groups
                .insert(name, crate::health::GroupSettings { include });
        }
        config.validate()?;
        let groups = crate::health::Groups::new(&config.health, self.health.check_names())?;
        let health_builder = self.health.groups(groups);
        let admin_token = admin_token(self.admin_token)?;
        let trace_url = trace_url(self.trace_url)?;
        let mut layer = self.layer;
        if layer.trusted().is_empty() {
            layer = layer.trusted_proxies(crate::layer::TrustedProxies::from_env()?);
        }
        let drain_delay = match self.drain_delay {
            Some(d) => d,
            None => env::duration(env::PULSE_DRAIN_DELAY, env::PULSE_DRAIN_DELAY_DEFAULT)
                .map_err(|value| Error::DrainDelay { value })?,
        };
        let shutdown_deadline = match self.shutdown_deadline {
            Some(d) => d,
            None => env::duration(
                env::PULSE_SHUTDOWN_DEADLINE,
                env::PULSE_SHUTDOWN_DEADLINE_DEFAULT,
            )
            .map_err(|value| Error::ShutdownDeadline { value })?,
        };
        let system_interval = match self.system_interval {
            Some(i) => i,
            None => crate::system::interval_from_env()?,
        };
        let telemetry = match self.telemetry {
            Some(t) => Some(t.init()?),
            None => None,
        };
        let aggregator = Aggregator::new(
            AggregatorConfig {
                errors: config.errors.policy(),
                latency_thresholds: config.latency_thresholds(),
                monitoring_routes: config.monitoring.routes(),
                count_monitoring: config.monitoring.count_monitoring,
            },
            Arc::clone(layer.route_table()),
        );
        aggregator.start_ticker().map_err(Error::Ticker)?;
        let layer = match self.recorder {
            None => layer.recorder(aggregator.clone()),
            Some(extra) => {
                let agg = aggregator.clone();
                layer.recorder(move |r: &RequestRecord| {
                    agg.record(r);
                    extra.record(r);
                })
            }
        };
        let health = health_builder.build();
        let system = crate::system::SystemMonitor::start(system_interval)?;
        // The health and system gauges go to the global meter provider, which may be installed
        // before `build()` or after it (a service with its own telemetry): they are registered
        // now, and again at the layer's first request if the provider is a new one by then.
        let gauges = {
            let (health, system) = (health.clone(), system.clone());
            Arc::new(crate::instrumentation::PerProvider::new(move || {
                crate::health::register_metrics(&health);
                crate::system::register_metrics(&system);
            }))
        };
        gauges.bind();
        let layer = {
            // Weak: the layer (and its clones) must not keep the sampler thread alive.
            let weak = Arc::downgrade(&gauges);
            layer.on_bind(move || {
                if let Some(gauges) = weak.upgrade() {
                    gauges.bind();
                }
            })
        };
        let config = Arc::new(config);
        // The name the resource carries, so that a notification names the service as its
        // traces and metrics do.
        let service = crate::telemetry::service_name(self.service_name.as_deref());
        let mut alerts = Alerts::builder(AlertSources {
            config: Arc::clone(&config),
            aggregator: aggregator.clone(),
            health: health.clone(),
            system: system.clone(),
            service: service.clone(),
        });
        for l in self.alert_listeners.0 {
            alerts = alerts.on_event(l);
        }
        // After telemetry: the dispatcher's counters come from the service's meter.
        let notifications = match self.notifications {
            Some(d) => Some(d),
            None => Dispatcher::from_env(&service)?,
        };
        if let Some(d) = &notifications {
            let d = d.clone();
            alerts = alerts.on_event(move |e| d.submit(e.clone()));
            tracing::info!(target: "pulsecheck", notifiers = ?notifications.as_ref().map(|d| d.notifier_names()), "alert notifications on");
        }
        let alerts = alerts.build();
        alerts.start();
        // What `shutdown` may take: each step has its own bound and they run one after the other.
        let shutdown_timeout = notifications
            .as_ref()
            .map_or(Duration::ZERO, |_| NOTIFY_SHUTDOWN_TIMEOUT)
            + telemetry
                .as_ref()
                .map_or(Duration::ZERO, Telemetry::shutdown_bound);
        let admin = Arc::new(crate::routes::AdminAuth::new(
            admin_token.as_ref().map(Secret::expose),
            layer.audit().clone(),
            Arc::clone(layer.trusted()),
        ));
        Ok(Pulse {
            inner: Arc::new(Inner {
                telemetry: Mutex::new(telemetry),
                layer,
                aggregator,
                config,
                health,
                alerts,
                notifications,
                version: self.version,
                drain_delay,
                shutdown_deadline,
                shutdown_timeout,
                prometheus_route: self.prometheus_route,
                system,
                admin,
                trace_url,
                shutdown_notify: tokio::sync::Notify::new(),
                exposure_warned: std::sync::atomic::AtomicBool::new(false),
                _gauges: Gauges(gauges),
            }),
        })
    }
}

/// Owns the gauge registration the layer reaches through a `Weak`; never called through here.
struct Gauges(#[allow(dead_code)] Arc<crate::instrumentation::PerProvider>);

impl std::fmt::Debug for Gauges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Gauges")
    }
}

/// Everything pulsecheck runs for one service. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Pulse {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    telemetry: Mutex<Option<Telemetry>>,
    layer: PulseLayer,
    aggregator: Aggregator,
    config: Arc<PulseConfig>,
    health: Health,
    alerts: Alerts,
    notifications: Option<Dispatcher>,
    version: Option<String>,
    drain_delay: Duration,
    shutdown_deadline: Duration,
    shutdown_timeout: Duration,
    prometheus_route: bool,
    system: crate::system::SystemMonitor,
    admin: Arc<crate::routes::AdminAuth>,
    trace_url: Option<Arc<str>>,
    shutdown_notify: tokio::sync::Notify,
    /// Whether [`Pulse::listening_on`] has warned about open admin endpoints.
    exposure_warned: std::sync::atomic::AtomicBool,
    /// Registers the health and system gauges, once (see `PulseBuilder::build`); the layer
    /// holds it weakly.
    _gauges: Gauges,
}

impl Pulse {
    /// A builder with defaults from the environment.
    pub fn builder() -> PulseBuilder {
        PulseBuilder::default()
    }

    /// The request layer; add it with `Router::layer` so it sees route templates.
    pub fn layer(&self) -> PulseLayer {
        self.inner.layer.clone()
    }

    /// The endpoints, to merge into the service's router before adding [`layer`](Self::layer):
    ///
    #[doc = include_str!("../docs/endpoints.md")]
    pub fn routes<S: Clone + Send + Sync + 'static>(&self) -> axum::Router<S> {
        self.inner.alerts.start();
        crate::routes::router(
            crate::routes::RouteState {
                aggregator: self.inner.aggregator.clone(),
                config: Arc::clone(&self.inner.config),
                health: self.inner.health.clone(),
                version: self.inner.version.clone().map(Arc::from),
                system: self.inner.system.clone(),
                alerts: self.inner.alerts.clone(),
                notifications: self.inner.notifications.clone(),
                metrics_cache: Arc::default(),
                admin: Arc::clone(&self.inner.admin),
                trace_url: self.inner.trace_url.clone(),
            },
            self.inner.prometheus_route,
        )
    }

    /// Whether the admin endpoints require a token.
    pub fn admin_auth_enabled(&self) -> bool {
        self.inner.admin.enabled()
    }

    /// Tells pulsecheck where [`routes`](Self::routes) are served: [`serve`](Self::serve) calls
    /// it; call it with the listener's address when you serve otherwise. When no admin token is
    /// set and `addr` is not a loopback address (`0.0.0.0` included), it logs one warning: `/health/detailed`, `/metrics`,
    /// `/health/system`, `/health/alerts` and the dashboard's data are then open to anyone who
    /// can reach the port. Warns at most once per [`Pulse`]; returns whether this call warned.
    ///
    /// ```
    /// # let pulse = pulsecheck::Pulse::builder().without_telemetry().build().unwrap();
    /// assert!(!pulse.listening_on(([127, 0, 0, 1], 8080).into()));
    /// assert!(pulse.listening_on(([0, 0, 0, 0], 8080).into()));
    /// assert!(!pulse.listening_on(([0, 0, 0, 0], 8080).into())); // once
    /// ```
    pub fn listening_on(&self, addr: std::net::SocketAddr) -> bool {
        if self.admin_auth_enabled() || addr.ip().to_canonical().is_loopback() {
            return false;
        }
        if self
            .inner
            .exposure_warned
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            return false;
        }
        tracing::warn!(
            target: "pulsecheck",
            %addr,
            "admin endpoints are served without a token on a non-loopback address: anyone who \
             can reach it reads error details, metrics and system figures; set {}",
            env::PULSE_ADMIN_TOKEN
        );
        true
    }

    /// The dependency health state.
    pub fn health(&self) -> &Health {
        &self.inner.health
    }

    /// The alert engine (its background evaluation starts with the first tokio runtime that
    /// sees [`PulseBuilder::build`] or [`Pulse::routes`]).
    pub fn alerts(&self) -> &Alerts {
        &self.inner.alerts
    }

    /// The alert notifiers, when any is configured.
    pub fn notifications(&self) -> Option<&Dispatcher> {
        self.inner.notifications.as_ref()
    }

    /// The in-process aggregator.
    pub fn aggregator(&self) -> &Aggregator {
        &self.inner.aggregator
    }

    /// The process and host sampler.
    pub fn system(&self) -> &crate::system::SystemMonitor {
        &self.inner.system
    }

    /// The configuration in force.
    pub fn config(&self) -> &PulseConfig {
        &self.inner.config
    }

    /// Whether shutdown has begun (a signal arrived or [`Pulse::begin_shutdown`] was called).
    pub fn is_shutting_down(&self) -> bool {
        self.inner.health.is_shutting_down()
    }

    /// Marks the service as shutting down (readiness 503 at once, liveness still 200) and
    /// wakes [`Pulse::shutdown_signal`], which completes after the drain delay.
    pub fn begin_shutdown(&self) {
        self.inner.health.begin_shutdown();
        self.inner.shutdown_notify.notify_waiters();
    }

    /// Serves `router` on `listener` and shuts down within a bound, whatever clients do: the
    /// whole lifecycle in one call.
    ///
    /// 1. Serves until SIGTERM, Ctrl-C or [`Pulse::begin_shutdown`]; readiness then answers
    ///    503 at once while requests are still served for the [drain
    ///    delay](PulseBuilder::drain_delay).
    /// 2. Stops accepting and asks open connections to finish; after the [shutdown
    ///    deadline](PulseBuilder::shutdown_deadline) closes those still open (a client holding
    ///    a half-sent body, a stuck handler).
    /// 3. Runs [`Pulse::shutdown`]: queued alert notifications and telemetry are flushed,
    ///    each within its own bound.
    ///
    /// It returns within drain delay + shutdown deadline + [`Pulse::shutdown_timeout`] of the
    /// signal (plus up to 1 s for aborted connections to unwind); the error is the
    /// telemetry flush's. Handlers see `ConnectInfo<SocketAddr>`, as with axum's
    /// `into_make_service_with_connect_info`. HTTP/1.1 and HTTP/2, with upgrades.
    ///
    /// ```no_run
    /// use axum::{Router, routing::get};
    /// use pulsecheck::Pulse;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let pulse = Pulse::builder().service_name("hello").build()?;
    /// let app = Router::new()
    ///     .route("/hello", get(|| async { "hi" }))
    ///     .merge(pulse.routes())
    ///     .layer(pulse.layer());
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
    /// pulse.serve(listener, app).await?;
    /// # Ok(()) }
    /// ```
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        router: axum::Router,
    ) -> Result<(), ShutdownError> {
        crate::serve::serve(self, listener, router, self.inner.shutdown_deadline).await
    }

    /// Completes after SIGTERM, Ctrl-C or [`Pulse::begin_shutdown`], plus the drain delay;
    /// [`Pulse::serve`] uses it. With axum's `with_graceful_shutdown` instead, nothing bounds
    /// the wait for open connections: a client that never finishes its request keeps the
    /// process alive, and [`Pulse::shutdown`] never runs.
    ///
    /// On the signal, readiness (HTTP and gRPC) turns 503 / NOT_SERVING at once while
    /// liveness stays 200; requests keep being served for the drain delay (load balancers
    /// and Kubernetes endpoints update asynchronously), then the future completes, axum stops
    /// accepting and lets in-flight requests finish. Call [`Pulse::shutdown`] after the
    /// server returns to flush telemetry.
    pub fn shutdown_signal(&self) -> impl Future<Output = ()> + Send + 'static {
        let pulse = self.clone();
        async move {
            let notified = pulse.inner.shutdown_notify.notified();
            if !pulse.is_shutting_down() {
                tokio::select! {
                    _ = notified => {}
                    _ = terminate() => {}
                }
            }
            pulse.inner.health.begin_shutdown();
            let delay = pulse.inner.drain_delay;
            tracing::info!(target: "pulsecheck", drain_delay_ms = delay.as_millis() as u64, "shutdown signal received; readiness is now 503, draining");
            tokio::time::sleep(delay).await;
            tracing::info!(target: "pulsecheck", "drain delay over; no longer accepting connections");
        }
    }

    /// The drain delay in force.
    pub fn drain_delay(&self) -> Duration {
        self.inner.drain_delay
    }

    /// Delivers queued alert notifications (at most 3 s) and flushes telemetry within its
    /// bound (5 s by default, [`TelemetryBuilder::shutdown_timeout`], then at most 1.2 s to
    /// write out queued log lines), then stops both: at most [`Pulse::shutdown_timeout`] in
    /// all. Safe to call twice.
    pub async fn shutdown(&self) -> Result<(), ShutdownError> {
        self.begin_shutdown();
        self.inner.health.stop();
        self.inner.alerts.stop();
        self.inner.system.stop();
        if let Some(d) = &self.inner.notifications {
            // Deliver what is queued (a resolve sent just before shutdown, say) within a
            // bound, so a dead receiver cannot hold the process.
            d.shutdown(NOTIFY_SHUTDOWN_TIMEOUT).await;
        }
        let telemetry = self
            .inner
            .telemetry
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        match telemetry {
            Some(t) => t.shutdown().await,
            None => Ok(()),
        }
    }

    /// How long [`Pulse::shutdown`] may take at most: the notification drain (3 s, when
    /// notifiers are configured) plus the telemetry flush bound and the log-line flush (when
    /// pulsecheck runs telemetry), which run one after the other.
    pub fn shutdown_timeout(&self) -> Duration {
        self.inner.shutdown_timeout
    }

    /// How long [`Pulse::serve`] lets open connections finish after the drain delay.
    pub fn shutdown_deadline(&self) -> Duration {
        self.inner.shutdown_deadline
    }
}

async fn terminate() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
