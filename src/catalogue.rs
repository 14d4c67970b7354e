//! The metric catalogue: every figure pulsecheck exports, defined once with its Prometheus
//! name, type, help and unit, and, where the same figure is also an OpenTelemetry instrument,
//! that instrument's name. `GET /metrics` writes its families from here, and the observable
//! gauges of the system sampler and the health runner take their names, units and
//! descriptions from here, so the two views of one figure cannot drift apart.
//!
//! ```ignore
//! // Crate-private, so not a doctest: `the_module_example_holds` below runs it.
//! use crate::catalogue::{PROCESS_RESIDENT_MEMORY, Unit};
//! let rss = &PROCESS_RESIDENT_MEMORY;
//! assert_eq!(rss.name, "pulsecheck_process_resident_memory_bytes");
//! assert_eq!(rss.unit, Unit::Bytes);
//! // The OpenTelemetry view of the same figure; `const` makes a missing one a compile error.
//! let otel = const { PROCESS_RESIDENT_MEMORY.instrument() };
//! assert_eq!((otel.name, otel.unit), ("process.memory.usage", "By"));
//! assert_eq!(otel.description, rss.help);
//! ```

use opentelemetry::metrics::AsyncInstrumentBuilder;
use opentelemetry_semantic_conventions::metric as semconv;

/// A family's Prometheus type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Gauge,
    Counter,
    Histogram,
    /// A constant 1 whose labels are the information (`*_info`): a gauge in 0.0.4.
    Info,
}

/// What a figure is measured in. The Prometheus name ends in the unit's word where
/// OpenMetrics has one (`# UNIT`); OpenTelemetry gets the UCUM code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unit {
    /// A number without a unit (a count of requests, a 0/1 flag, a status code).
    None,
    Seconds,
    Bytes,
    /// A ratio, 0..1.
    Ratio,
    /// A count of things, as a UCUM annotation such as `{thread}`; OpenMetrics has no word
    /// for it.
    Count(&'static str),
}

impl Unit {
    /// The OpenMetrics `# UNIT` word, which is also the name's last `_`-separated part.
    pub(crate) fn openmetrics(self) -> Option<&'static str> {
        match self {
            Self::Seconds => Some("seconds"),
            Self::Bytes => Some("bytes"),
            Self::Ratio => Some("ratio"),
            Self::None | Self::Count(_) => None,
        }
    }

    /// The UCUM code OpenTelemetry instruments carry (empty for none).
    pub(crate) const fn ucum(self) -> &'static str {
        match self {
            Self::None => "",
            Self::Seconds => "s",
            Self::Bytes => "By",
            Self::Ratio => "1",
            Self::Count(annotation) => annotation,
        }
    }
}

/// One `/metrics` family.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Metric {
    /// The sample name (`pulsecheck_*`, counters with `_total`).
    pub(crate) name: &'static str,
    pub(crate) kind: Kind,
    pub(crate) unit: Unit,
    /// `# HELP`, and the OpenTelemetry instrument's description.
    pub(crate) help: &'static str,
    /// The name of the OpenTelemetry instrument reporting the same figure, if there is one.
    pub(crate) otel: Option<&'static str>,
}

/// An OpenTelemetry instrument's identity: what the meter is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Instrument {
    pub(crate) name: &'static str,
    /// UCUM; empty for none.
    pub(crate) unit: &'static str,
    pub(crate) description: &'static str,
}

impl Metric {
    pub(crate) const fn new(
        name: &'static str,
        kind: Kind,
        unit: Unit,
        help: &'static str,
    ) -> Self {
        Self {
            name,
            kind,
            unit,
            help,
            otel: None,
        }
    }

    /// The same figure, also exported as the OpenTelemetry instrument `name`.
    const fn otel(mut self, name: &'static str) -> Self {
        self.otel = Some(name);
        self
    }

    /// The OpenTelemetry instrument of this figure. Call it in a `const` (`const {
    /// PROCESS_UPTIME.instrument() }`): a figure without one is then a compile error.
    pub(crate) const fn instrument(&self) -> Instrument {
        match self.otel {
            Some(name) => Instrument {
                name,
                unit: self.unit.ucum(),
                description: self.help,
            },
            None => panic!("this figure has no OpenTelemetry instrument"),
        }
    }
}

impl Instrument {
    /// `builder` (made with [`Instrument::name`]) with this instrument's description and unit.
    pub(crate) fn describe<'a, I, M>(
        self,
        builder: AsyncInstrumentBuilder<'a, I, M>,
    ) -> AsyncInstrumentBuilder<'a, I, M> {
        let builder = builder.with_description(self.description);
        if self.unit.is_empty() {
            builder
        } else {
            builder.with_unit(self.unit)
        }
    }
}

use Kind::{Counter, Gauge, Histogram, Info};

// --- The build. ---
pub(crate) const BUILD_INFO: Metric = Metric::new(
    "pulsecheck_build_info",
    Info,
    Unit::None,
    "Always 1; labels give the service and pulsecheck versions.",
);
pub(crate) const UPTIME: Metric = Metric::new(
    "pulsecheck_uptime_seconds",
    Gauge,
    Unit::Seconds,
    "Seconds since the aggregator started.",
);

// --- Requests since the process started. ---
pub(crate) const HTTP_REQUEST_DURATION: Metric = Metric::new(
    "pulsecheck_http_server_request_duration_seconds",
    Histogram,
    Unit::Seconds,
    "Duration of HTTP server requests since the process started, by route template and method.",
);
pub(crate) const HTTP_REQUESTS: Metric = Metric::new(
    "pulsecheck_http_server_requests_total",
    Counter,
    Unit::None,
    "HTTP server requests since the process started, by route template, method and status code (a class such as `4xx` for rare codes past a route's first 16).",
);

// --- The service over each sliding window. ---
pub(crate) const WINDOW_REQUESTS: Metric = Metric::new(
    "pulsecheck_window_requests",
    Gauge,
    Unit::None,
    "Requests in the sliding window.",
);
pub(crate) const WINDOW_ERRORS: Metric = Metric::new(
    "pulsecheck_window_errors",
    Gauge,
    Unit::None,
    "Requests counted as errors in the sliding window (5xx unless configured otherwise).",
);
pub(crate) const WINDOW_ERROR_RATIO: Metric = Metric::new(
    "pulsecheck_window_error_ratio",
    Gauge,
    Unit::Ratio,
    "Errors divided by requests in the sliding window (0 without requests).",
);
pub(crate) const WINDOW_COVERED: Metric = Metric::new(
    "pulsecheck_window_covered_seconds",
    Gauge,
    Unit::Seconds,
    "Seconds of data the window covers (less than its length while the process is young).",
);
pub(crate) const WINDOW_REQUEST_DURATION: Metric = Metric::new(
    "pulsecheck_window_request_duration_seconds",
    Gauge,
    Unit::Seconds,
    "Request duration percentiles (label `percentile`: p50 .. p999) over the sliding window (absent without requests).",
);
pub(crate) const WINDOW_REQUEST_DURATION_MAX: Metric = Metric::new(
    "pulsecheck_window_request_duration_max_seconds",
    Gauge,
    Unit::Seconds,
    "Slowest request in the sliding window.",
);
pub(crate) const WINDOW_RESPONSES: Metric = Metric::new(
    "pulsecheck_window_responses",
    Gauge,
    Unit::None,
    "Requests in the sliding window by response status code.",
);

// --- Each route template over each sliding window. ---
pub(crate) const ROUTE_WINDOW_REQUESTS: Metric = Metric::new(
    "pulsecheck_route_window_requests",
    Gauge,
    Unit::None,
    "Requests per route template in the sliding window.",
);
pub(crate) const ROUTE_WINDOW_ERRORS: Metric = Metric::new(
    "pulsecheck_route_window_errors",
    Gauge,
    Unit::None,
    "Errors per route template in the sliding window.",
);
pub(crate) const ROUTE_WINDOW_ERROR_RATIO: Metric = Metric::new(
    "pulsecheck_route_window_error_ratio",
    Gauge,
    Unit::Ratio,
    "Errors divided by requests per route template in the sliding window.",
);
pub(crate) const ROUTE_WINDOW_REQUEST_DURATION: Metric = Metric::new(
    "pulsecheck_route_window_request_duration_seconds",
    Gauge,
    Unit::Seconds,
    "Request duration percentiles (p50, p95, p99) per route template over the sliding window.",
);
pub(crate) const ROUTE_WINDOW_RESPONSES: Metric = Metric::new(
    "pulsecheck_route_window_responses",
    Gauge,
    Unit::None,
    "Requests per route template in the sliding window by status class (2xx, 4xx, ...).",
);

// --- Budgets. ---
pub(crate) const BUDGET_LIMIT: Metric = Metric::new(
    "pulsecheck_budget_limit",
    Gauge,
    Unit::None,
    "Each budget's limit, in the budget's unit (ms, ratio or MiB).",
);
pub(crate) const BUDGET_VALUE: Metric = Metric::new(
    "pulsecheck_budget_value",
    Gauge,
    Unit::None,
    "Each budget's measured value, in the budget's unit (absent when nothing is measured).",
);
pub(crate) const BUDGET_UTILIZATION: Metric = Metric::new(
    "pulsecheck_budget_utilization_ratio",
    Gauge,
    Unit::Ratio,
    "Each budget's value divided by its limit (over 1 is over budget).",
);
pub(crate) const BUDGET_STATUS: Metric = Metric::new(
    "pulsecheck_budget_status",
    Gauge,
    Unit::None,
    "Each budget's status: 0 ok, 1 warning, 2 critical.",
);

// --- Health checks. ---
pub(crate) const HEALTH_STATUS: Metric = Metric::new(
    "pulsecheck_health_status",
    Gauge,
    Unit::None,
    "1 for the service's current health status, 0 for the others.",
);
pub(crate) const READY: Metric = Metric::new(
    "pulsecheck_ready",
    Gauge,
    Unit::None,
    "1 when the service is ready (critical checks pass, not shutting down).",
);
pub(crate) const HEALTH_CHECK_STATUS: Metric = Metric::new(
    "pulsecheck_health_check_status",
    Gauge,
    Unit::None,
    "1 for each check's current status, 0 for the others.",
)
.otel("pulsecheck.health.status");
pub(crate) const HEALTH_CHECK_DURATION: Metric = Metric::new(
    "pulsecheck_health_check_duration_seconds",
    Gauge,
    Unit::Seconds,
    "Duration of each check's latest probe.",
)
.otel("pulsecheck.health.check.duration");
pub(crate) const HEALTH_CHECK_AGE: Metric = Metric::new(
    "pulsecheck_health_check_age_seconds",
    Gauge,
    Unit::Seconds,
    "Age of each check's cached result.",
);

// --- Circuit breakers. ---
pub(crate) const CIRCUIT_BREAKER_STATE: Metric = Metric::new(
    "pulsecheck_circuit_breaker_state",
    Gauge,
    Unit::None,
    "1 for each circuit breaker's current state, 0 for the others.",
);
/// The breaker state as one OpenTelemetry gauge per breaker (a code, where `/metrics` has one
/// series per state).
pub(crate) const CIRCUIT_BREAKER_STATE_CODE: Instrument = Instrument {
    name: "pulsecheck.circuit_breaker.state",
    unit: "",
    description: "Circuit breaker state: 0 closed, 1 open, 2 half-open",
};

// --- Alerts. ---
pub(crate) const ALERTS: Metric = Metric::new(
    "pulsecheck_alerts",
    Gauge,
    Unit::None,
    "1 for each pending or firing alert of the in-process engine (like Prometheus' ALERTS).",
);

// --- Connection pools, from the health checks' details. ---
pub(crate) const POOL_SIZE: Metric = Metric::new(
    "pulsecheck_pool_size",
    Gauge,
    Unit::None,
    "Maximum connections of each pool a health check reports (e.g. PostgreSQL).",
);
pub(crate) const POOL_CONNECTIONS: Metric = Metric::new(
    "pulsecheck_pool_connections",
    Gauge,
    Unit::None,
    "Connections of each pool a health check reports, by state (idle, in_use).",
);

// --- The process and the host, from the system sampler. ---
pub(crate) const PROCESS_RESIDENT_MEMORY: Metric = Metric::new(
    "pulsecheck_process_resident_memory_bytes",
    Gauge,
    Unit::Bytes,
    "Resident set size of the process.",
)
.otel(semconv::PROCESS_MEMORY_USAGE);
pub(crate) const PROCESS_CPU_TIME: Metric = Metric::new(
    "pulsecheck_process_cpu_seconds_total",
    Counter,
    Unit::Seconds,
    "CPU time used by the process, by mode.",
)
.otel(semconv::PROCESS_CPU_TIME);
pub(crate) const PROCESS_CPU_UTILIZATION: Metric = Metric::new(
    "pulsecheck_process_cpu_utilization_ratio",
    Gauge,
    Unit::Ratio,
    "CPU used by the process over the last sampling interval, divided by the CPUs available (0..1).",
)
.otel(semconv::PROCESS_CPU_UTILIZATION);
pub(crate) const PROCESS_THREADS: Metric = Metric::new(
    "pulsecheck_process_threads",
    Gauge,
    Unit::Count("{thread}"),
    "Threads of the process.",
)
.otel(semconv::PROCESS_THREAD_COUNT);
pub(crate) const PROCESS_OPEN_FDS: Metric = Metric::new(
    "pulsecheck_process_open_fds",
    Gauge,
    Unit::Count("{file_descriptor}"),
    "Open file descriptors of the process.",
)
.otel(semconv::PROCESS_UNIX_FILE_DESCRIPTOR_COUNT);
pub(crate) const PROCESS_UPTIME: Metric = Metric::new(
    "pulsecheck_process_uptime_seconds",
    Gauge,
    Unit::Seconds,
    "Seconds since the process started.",
)
.otel(semconv::PROCESS_UPTIME);
pub(crate) const HOST_CPUS: Metric = Metric::new(
    "pulsecheck_host_cpus",
    Gauge,
    Unit::Count("{cpu}"),
    "CPUs available to the process.",
);
pub(crate) const HOST_MEMORY_TOTAL: Metric = Metric::new(
    "pulsecheck_host_memory_total_bytes",
    Gauge,
    Unit::Bytes,
    "Total host memory (MemTotal).",
)
.otel(semconv::SYSTEM_MEMORY_LIMIT);
pub(crate) const HOST_MEMORY_AVAILABLE: Metric = Metric::new(
    "pulsecheck_host_memory_available_bytes",
    Gauge,
    Unit::Bytes,
    "Host memory available without swapping (MemAvailable).",
)
.otel(semconv::SYSTEM_MEMORY_LINUX_AVAILABLE);
/// Host memory by state, the semantic conventions' shape; `/metrics` has the total and the
/// available memory instead, from which it follows.
pub(crate) const HOST_MEMORY_USAGE: Instrument = Instrument {
    name: semconv::SYSTEM_MEMORY_USAGE,
    unit: "By",
    description: "Host memory in use (MemTotal - MemAvailable) and free (MemAvailable).",
};
pub(crate) const HOST_LOAD_AVERAGE: Metric = Metric::new(
    "pulsecheck_host_load_average",
    Gauge,
    // Runnable and uninterruptible tasks; the semantic conventions have no load average.
    Unit::Count("{thread}"),
    "Host load average, per period (1m, 5m, 15m).",
)
.otel("pulsecheck.system.load_average");
pub(crate) const SYSTEM_SAMPLE_TIMESTAMP: Metric = Metric::new(
    "pulsecheck_system_sample_timestamp_seconds",
    Gauge,
    Unit::Seconds,
    "Unix time of the latest process and host sample.",
);

// --- The log writer. ---
pub(crate) const LOG_LINES_DROPPED: Metric = Metric::new(
    "pulsecheck_log_lines_dropped_total",
    Counter,
    Unit::None,
    "Log lines dropped because stdout was not keeping up (a stalled log consumer).",
);

/// Every family, in `/metrics` order.
#[cfg(test)]
pub(crate) const ALL: [&Metric; 41] = [
    &BUILD_INFO,
    &UPTIME,
    &HTTP_REQUEST_DURATION,
    &HTTP_REQUESTS,
    &WINDOW_REQUESTS,
    &WINDOW_ERRORS,
    &WINDOW_ERROR_RATIO,
    &WINDOW_COVERED,
    &WINDOW_REQUEST_DURATION,
    &WINDOW_REQUEST_DURATION_MAX,
    &WINDOW_RESPONSES,
    &ROUTE_WINDOW_REQUESTS,
    &ROUTE_WINDOW_ERRORS,
    &ROUTE_WINDOW_ERROR_RATIO,
    &ROUTE_WINDOW_REQUEST_DURATION,
    &ROUTE_WINDOW_RESPONSES,
    &BUDGET_LIMIT,
    &BUDGET_VALUE,
    &BUDGET_UTILIZATION,
    &BUDGET_STATUS,
    &HEALTH_STATUS,
    &READY,
    &HEALTH_CHECK_STATUS,
    &HEALTH_CHECK_DURATION,
    &HEALTH_CHECK_AGE,
    &CIRCUIT_BREAKER_STATE,
    &ALERTS,
    &POOL_SIZE,
    &POOL_CONNECTIONS,
    &PROCESS_RESIDENT_MEMORY,
    &PROCESS_CPU_TIME,
    &PROCESS_CPU_UTILIZATION,
    &PROCESS_THREADS,
    &PROCESS_OPEN_FDS,
    &PROCESS_UPTIME,
    &HOST_CPUS,
    &HOST_MEMORY_TOTAL,
    &HOST_MEMORY_AVAILABLE,
    &HOST_LOAD_AVERAGE,
    &SYSTEM_SAMPLE_TIMESTAMP,
    &LOG_LINES_DROPPED,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_module_example_holds() {
        let rss = &PROCESS_RESIDENT_MEMORY;
        assert_eq!(rss.name, "pulsecheck_process_resident_memory_bytes");
        assert_eq!(rss.unit, Unit::Bytes);
        let otel = const { PROCESS_RESIDENT_MEMORY.instrument() };
        assert_eq!((otel.name, otel.unit), ("process.memory.usage", "By"));
        assert_eq!(otel.description, rss.help);
    }

    /// The instruments keep the units the semantic conventions give them.
    #[test]
    fn instruments_carry_the_semantic_convention_units() {
        for (m, unit) in [
            (&PROCESS_RESIDENT_MEMORY, "By"),
            (&PROCESS_CPU_TIME, "s"),
            (&PROCESS_CPU_UTILIZATION, "1"),
            (&PROCESS_THREADS, "{thread}"),
            (&PROCESS_OPEN_FDS, "{file_descriptor}"),
            (&PROCESS_UPTIME, "s"),
            (&HOST_MEMORY_TOTAL, "By"),
            (&HOST_MEMORY_AVAILABLE, "By"),
            (&HOST_LOAD_AVERAGE, "{thread}"),
            (&HEALTH_CHECK_DURATION, "s"),
            (&HEALTH_CHECK_STATUS, ""),
        ] {
            assert_eq!(m.instrument().unit, unit, "{}", m.name);
        }
    }

    /// OpenMetrics requires a family with a `# UNIT` to end in that unit; and a name that
    /// says a unit must declare it, or `/metrics` would leave `# UNIT` out.
    #[test]
    fn names_end_in_their_unit_and_are_unique() {
        let mut names = std::collections::HashSet::new();
        let mut otel = std::collections::HashSet::new();
        for m in ALL {
            assert!(names.insert(m.name), "{} twice", m.name);
            assert!(m.name.starts_with("pulsecheck_"), "{}", m.name);
            let family = match m.kind {
                Kind::Counter => m
                    .name
                    .strip_suffix("_total")
                    .expect("counters end in _total"),
                Kind::Info => m.name.strip_suffix("_info").expect("info ends in _info"),
                Kind::Gauge | Kind::Histogram => m.name,
            };
            let said = ["seconds", "bytes", "ratio"]
                .into_iter()
                .find(|u| family.ends_with(&format!("_{u}")));
            assert_eq!(said, m.unit.openmetrics(), "{}", m.name);
            if let Some(name) = m.otel {
                assert!(otel.insert(name), "{name} twice");
            }
        }
        for i in [HOST_MEMORY_USAGE, CIRCUIT_BREAKER_STATE_CODE] {
            assert!(otel.insert(i.name), "{} twice", i.name);
        }
    }
}
