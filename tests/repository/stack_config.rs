//! The local observability stack's files, checked with the real tools that read them:
//! docker-compose (config only: no Docker engine on these machines), promtool, amtool; the
//! collector configs against the component list of the pinned collector version; the Grafana
//! dashboard's metric names against a live /metrics scrape of the academy, the collector's
//! span-metrics names and the recording rules; the Stripe/PayPal stand-in script against the
//! academy's real health checks; a real Alertmanager running the stack's config, fed by the
//! real academy, delivering each alert by one path.

use support::stack;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_norway::Value;
use stack::{StandInScript, promql_metric_names, read, repo_file, run, scratch, tool, yaml};
use support::academy::Academy;

const COLLECTOR_IMAGE: &str = "otel/opentelemetry-collector-contrib:0.136.0";
const COMPONENTS: &str = "tests/data/otelcol-contrib-0.136.0.txt";
const COLLECTOR_CONFIGS: &[&str] = &[
    "collector/otel-collector.yaml",
    "collector/otel-collector-tail-sampling.yaml",
];

fn compose(file: &std::path::Path) -> (std::process::Output, String) {
    let mut cmd = tool("docker-compose", "docker-compose");
    cmd.arg("-f")
        .arg(file)
        .arg("--project-directory")
        .arg(repo_file(""))
        .args(["config", "-q"]);
    run(cmd)
}

#[test]
fn docker_compose_accepts_the_compose_file() {
    let (out, text) = compose(&repo_file("docker-compose.yml"));
    assert!(
        out.status.success(),
        "docker-compose config failed:\n{text}"
    );
}

#[test]
fn docker_compose_rejects_a_broken_copy() {
    let original = read("docker-compose.yml");
    let dir = scratch("compose");
    // Control: the unchanged copy passes from the scratch directory too.
    let copy = dir.join("docker-compose.yml");
    std::fs::write(&copy, &original).unwrap();
    let (out, text) = compose(&copy);
    assert!(out.status.success(), "unchanged copy rejected:\n{text}");
    // A dependency on a service that does not exist.
    let broken = original.replacen(
        "      redis:\n        condition: service_healthy",
        "      rediz:\n        condition: service_healthy",
        1,
    );
    assert_ne!(broken, original, "the edit must apply");
    std::fs::write(&copy, &broken).unwrap();
    let (out, text) = compose(&copy);
    assert!(
        !out.status.success(),
        "a depends_on on an undefined service was accepted"
    );
    assert!(
        text.contains("rediz"),
        "the error names the service:\n{text}"
    );
    // A misspelt key.
    let broken = original.replacen("    healthcheck:\n", "    healthchek:\n", 1);
    std::fs::write(&copy, &broken).unwrap();
    let (out, text) = compose(&copy);
    assert!(
        !out.status.success(),
        "an unknown key was accepted:\n{text}"
    );
}

#[test]
fn compose_services_are_pinned_healthchecked_and_ordered() {
    let doc = yaml("docker-compose.yml");
    let services = doc["services"].as_mapping().expect("services");
    let names: BTreeSet<&str> = services.keys().filter_map(Value::as_str).collect();
    for want in [
        "academy",
        "postgres",
        "redis",
        "mailpit",
        "stand-in",
        "otel-collector",
        "jaeger",
        "tempo",
        "prometheus",
        "grafana",
        "alertmanager",
        "load",
    ] {
        assert!(names.contains(want), "service {want} missing");
    }
    // Distroless images without a shell or HTTP client cannot run a healthcheck.
    let no_healthcheck = ["otel-collector", "jaeger", "load", "tempo-init"];
    for (name, svc) in services {
        let name = name.as_str().unwrap();
        let image = svc["image"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: no image"));
        // Built here from the Dockerfile (academy, and the load profile running the same image).
        let built = services["academy"]["image"].as_str();
        if svc["build"].is_string() || Some(image) == built {
            continue;
        }
        let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or("");
        assert!(
            !tag.is_empty() && tag != "latest" && tag.contains(|c: char| c.is_ascii_digit()),
            "{name}: image {image} is not pinned to a version"
        );
        if !no_healthcheck.contains(&name) {
            assert!(
                svc["healthcheck"]["test"].is_sequence(),
                "{name}: no healthcheck"
            );
        }
        if let Some(deps) = svc["depends_on"].as_mapping() {
            for (dep, cond) in deps {
                let dep = dep.as_str().unwrap();
                let cond = cond["condition"].as_str().unwrap_or("");
                let healthy = services[dep]["healthcheck"].is_mapping();
                // A one-shot step (`*-init`) must have finished, not merely started.
                let want = if dep.ends_with("-init") {
                    "service_completed_successfully"
                } else if healthy {
                    "service_healthy"
                } else {
                    "service_started"
                };
                assert_eq!(cond, want, "{name} -> {dep}");
            }
        }
    }
    assert_eq!(
        services["otel-collector"]["image"].as_str(),
        Some(COLLECTOR_IMAGE)
    );
    assert_eq!(services["load"]["profiles"][0].as_str(), Some("load"));
    // Every variable the academy reads in the stack is set (README, "The academy example").
    let env = &services["academy"]["environment"];
    for var in [
        "DATABASE_URL",
        "REDIS_URL",
        "SMTP_URL",
        "STRIPE_API_BASE",
        "STRIPE_API_KEY",
        "PAYPAL_API_BASE",
        "PAYPAL_CLIENT_ID",
        "PAYPAL_CLIENT_SECRET",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "PULSE_ADMIN_TOKEN",
        "PULSE_ALERTMANAGER_URL",
        "GRPC_PORT",
        "PORT",
    ] {
        assert!(env[var].is_string(), "academy: {var} not set");
    }
    // The dashboard links trace ids to the stack's Jaeger, on the port it publishes.
    let trace_url = env["PULSE_TRACE_URL"]
        .as_str()
        .expect("academy: PULSE_TRACE_URL");
    let jaeger_ui = services["jaeger"]["ports"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|p| p.as_str())
        .find_map(|p| {
            p.rsplit_once(':')
                .filter(|(_, c)| *c == "16686")
                .map(|(h, _)| h.rsplit(':').next().unwrap_or(h).to_owned())
        })
        .expect("jaeger publishes its UI (16686)");
    assert_eq!(
        trace_url,
        format!("http://localhost:{jaeger_ui}/trace/{{trace_id}}"),
        "PULSE_TRACE_URL must open the stack's Jaeger"
    );
    // The files the services mount exist.
    for (name, svc) in services {
        for v in svc["volumes"].as_sequence().into_iter().flatten() {
            let src = v.as_str().unwrap().split(':').next().unwrap();
            if let Some(rel) = src.strip_prefix("./") {
                assert!(
                    repo_file(rel).exists(),
                    "{}: mounts missing {src}",
                    name.as_str().unwrap()
                );
            }
        }
    }
}

/// kind -> component types of the pinned collector version.
fn known_components() -> BTreeMap<String, BTreeSet<String>> {
    let mut known: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in read(COMPONENTS).lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (kind, ty) = line.split_once(' ').expect("`kind type` lines");
        known
            .entry(kind.to_owned())
            .or_default()
            .insert(ty.trim().to_owned());
    }
    known
}

fn keys(doc: &Value, section: &str) -> BTreeSet<String> {
    doc[section]
        .as_mapping()
        .map(|m| {
            m.keys()
                .filter_map(|k| k.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn list(v: &Value) -> Vec<String> {
    v.as_sequence()
        .map(|s| {
            s.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Every problem with a collector config's wiring and component names; empty when sound.
fn collector_problems(doc: &Value, known: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut problems = Vec::new();
    let receivers = keys(doc, "receivers");
    let processors = keys(doc, "processors");
    let exporters = keys(doc, "exporters");
    let connectors = keys(doc, "connectors");
    let extensions = keys(doc, "extensions");
    for (kind, ids) in [
        ("receiver", &receivers),
        ("processor", &processors),
        ("exporter", &exporters),
        ("connector", &connectors),
        ("extension", &extensions),
    ] {
        for id in ids {
            let ty = id.split('/').next().unwrap();
            if !known[kind].contains(ty) {
                problems.push(format!(
                    "{kind} type `{ty}` (of `{id}`) is not in {COMPONENTS}"
                ));
            }
        }
    }
    for ext in list(&doc["service"]["extensions"]) {
        if !extensions.contains(&ext) {
            problems.push(format!("service.extensions: `{ext}` is not defined"));
        }
    }
    let pipelines = doc["service"]["pipelines"]
        .as_mapping()
        .cloned()
        .unwrap_or_default();
    if pipelines.is_empty() {
        problems.push("no pipelines".into());
    }
    let mut used = BTreeSet::new();
    let (mut connector_out, mut connector_in) = (BTreeSet::new(), BTreeSet::new());
    for (name, p) in &pipelines {
        let name = name.as_str().unwrap_or("?");
        let signal = name.split('/').next().unwrap();
        if !["traces", "metrics", "logs"].contains(&signal) {
            problems.push(format!("pipeline `{name}`: unknown signal"));
        }
        let rs = list(&p["receivers"]);
        let ps = list(&p["processors"]);
        let es = list(&p["exporters"]);
        if rs.is_empty() || es.is_empty() {
            problems.push(format!("pipeline `{name}` needs receivers and exporters"));
        }
        for r in &rs {
            if connectors.contains(r) {
                connector_in.insert(r.clone());
            } else if !receivers.contains(r) {
                problems.push(format!("pipeline `{name}`: receiver `{r}` is not defined"));
            }
            used.insert(r.clone());
        }
        for x in &ps {
            if !processors.contains(x) {
                problems.push(format!("pipeline `{name}`: processor `{x}` is not defined"));
            }
            used.insert(x.clone());
        }
        for e in &es {
            if connectors.contains(e) {
                connector_out.insert(e.clone());
            } else if !exporters.contains(e) {
                problems.push(format!("pipeline `{name}`: exporter `{e}` is not defined"));
            }
            used.insert(e.clone());
        }
        // memory_limiter first, batch last: refuse early, batch what survived.
        if ps.iter().any(|x| x.starts_with("memory_limiter"))
            && !ps[0].starts_with("memory_limiter")
        {
            problems.push(format!("pipeline `{name}`: memory_limiter is not first"));
        }
        if ps.iter().any(|x| x.starts_with("batch")) && !ps.last().unwrap().starts_with("batch") {
            problems.push(format!("pipeline `{name}`: batch is not last"));
        }
    }
    for c in &connectors {
        if !connector_out.contains(c) || !connector_in.contains(c) {
            problems.push(format!(
                "connector `{c}` must be an exporter in one pipeline and a receiver in another"
            ));
        }
    }
    for id in receivers.iter().chain(&processors).chain(&exporters) {
        if !used.contains(id) {
            problems.push(format!("`{id}` is defined but no pipeline uses it"));
        }
    }
    problems
}

#[test]
fn collector_pipelines_use_defined_components_of_the_pinned_version() {
    let known = known_components();
    for file in COLLECTOR_CONFIGS {
        let doc = yaml(file);
        let problems = collector_problems(&doc, &known);
        assert!(problems.is_empty(), "{file}:\n{}", problems.join("\n"));
        // Reachable from other containers (the default is localhost since 0.104).
        for proto in ["grpc", "http"] {
            let ep = doc["receivers"]["otlp"]["protocols"][proto]["endpoint"].as_str();
            assert!(
                ep.is_some_and(|e| e.starts_with("0.0.0.0:")),
                "{file}: otlp {proto} {ep:?}"
            );
        }
        assert!(
            doc["extensions"]["health_check"]["endpoint"]
                .as_str()
                .unwrap()
                .starts_with("0.0.0.0:")
        );
        assert_eq!(
            doc["connectors"]["spanmetrics"]["exemplars"]["enabled"].as_bool(),
            Some(true),
            "{file}"
        );
        let scrub = serde_norway::to_string(&doc["processors"]["attributes/scrub"]).unwrap();
        assert!(
            scrub.contains("authorization") && scrub.contains("cookie"),
            "{file}: {scrub}"
        );
    }
    let tail = yaml("collector/otel-collector-tail-sampling.yaml");
    let policies =
        serde_norway::to_string(&tail["processors"]["tail_sampling"]["policies"]).unwrap();
    for want in [
        "type: drop",
        "type: status_code",
        "type: latency",
        "type: probabilistic",
        "/health",
        "/metrics",
    ] {
        assert!(
            policies.contains(want),
            "tail sampling lacks {want}:\n{policies}"
        );
    }
}

#[test]
fn collector_checker_reports_broken_wiring() {
    // Control for the test above: each kind of mistake is caught.
    let known = known_components();
    let good = read(COLLECTOR_CONFIGS[0]);
    let cases = [
        (
            "exporters: [otlp/jaeger,",
            "exporters: [otlp/nowhere,",
            "exporter `otlp/nowhere` is not defined",
        ),
        (
            "processors: [memory_limiter, resource, batch]",
            "processors: [resource, memory_limiter, batch]",
            "memory_limiter is not first",
        ),
        (
            "receivers: [otlp, spanmetrics, servicegraph]",
            "receivers: [otlp, servicegraph]",
            "connector `spanmetrics` must be",
        ),
        (
            "  otlp/tempo:\n",
            "  otlp_grpc/tempo:\n",
            "type `otlp_grpc`",
        ),
    ];
    for (from, to, want) in cases {
        assert!(good.contains(from), "the edit `{from}` must apply");
        let doc: Value = serde_norway::from_str(&good.replacen(from, to, 1)).unwrap();
        let problems = collector_problems(&doc, &known).join("\n");
        assert!(
            problems.contains(want),
            "`{to}` not reported as `{want}`; got:\n{problems}"
        );
    }
}

#[test]
fn promtool_accepts_the_prometheus_config_and_rules() {
    let mut cmd = tool("promtool", "prometheus");
    cmd.args(["check", "config"])
        .arg(repo_file("collector/prometheus.yml"));
    let (out, text) = run(cmd);
    assert!(out.status.success(), "promtool check config:\n{text}");
    assert!(
        text.contains("rules found"),
        "the config loads the rule files:\n{text}"
    );
    let mut cmd = tool("promtool", "prometheus");
    cmd.args(["check", "rules"])
        .arg(repo_file("collector/rules/pulsecheck.rules.yml"));
    let (out, text) = run(cmd);
    assert!(out.status.success(), "promtool check rules:\n{text}");
    // Control: promtool does reject a broken config.
    let dir = scratch("promtool");
    let broken =
        read("collector/prometheus.yml").replace("scrape_interval: 10s", "scrape_interval: ten");
    std::fs::write(dir.join("prometheus.yml"), broken).unwrap();
    let mut cmd = tool("promtool", "prometheus");
    cmd.args(["check", "config"])
        .arg(dir.join("prometheus.yml"));
    assert!(
        !run(cmd).0.status.success(),
        "promtool accepted a bad duration"
    );
}

#[test]
fn amtool_accepts_the_alertmanager_config() {
    let mut cmd = tool("amtool", "prometheus-alertmanager");
    cmd.arg("check-config")
        .arg(repo_file("collector/alertmanager.yml"));
    let (out, text) = run(cmd);
    assert!(out.status.success(), "amtool check-config:\n{text}");
    // Control: a route to a receiver that does not exist is rejected.
    let dir = scratch("amtool");
    let broken =
        read("collector/alertmanager.yml").replacen("receiver: webhook", "receiver: pager", 1);
    std::fs::write(dir.join("alertmanager.yml"), broken).unwrap();
    let mut cmd = tool("amtool", "prometheus-alertmanager");
    cmd.arg("check-config").arg(dir.join("alertmanager.yml"));
    let (out, text) = run(cmd);
    assert!(
        !out.status.success(),
        "amtool accepted an undefined receiver:\n{text}"
    );
}

#[test]
fn the_promql_tokenizer_finds_metric_names_only() {
    let names = promql_metric_names(
        r#"histogram_quantile(0.95, sum by (le, http_route) (rate(traces_span_metrics_duration_seconds_bucket{service_name="$service", x=~"a{b}"}[$__rate_interval]))) / on (job) group_left pulsecheck:http_requests:rate5m > bool 0.5 or vector(0) unless max without (check) (up offset 5m) and ALERTS{alertstate="firing"}"#,
    );
    let want: BTreeSet<String> = [
        "traces_span_metrics_duration_seconds_bucket",
        "pulsecheck:http_requests:rate5m",
        "up",
        "ALERTS",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(names, want);
}

/// Span-metrics series names for the pinned collector, from the connector's settings:
/// namespace (default `traces.span.metrics` since 0.109) `.calls` (a sum: `_total`) and
/// `.duration` (a histogram in the configured unit), dots to underscores by the exporter.
fn span_metric_names(doc: &Value) -> BTreeSet<String> {
    let sm = &doc["connectors"]["spanmetrics"];
    let ns = sm["namespace"]
        .as_str()
        .unwrap_or("traces.span.metrics")
        .replace('.', "_");
    let unit = match sm["histogram"]["unit"].as_str().unwrap_or("ms") {
        "s" => "seconds",
        "ms" => "milliseconds",
        other => panic!("unexpected spanmetrics unit {other}"),
    };
    let mut names = BTreeSet::from([format!("{ns}_calls_total")]);
    for suffix in ["bucket", "sum", "count"] {
        names.insert(format!("{ns}_duration_{unit}_{suffix}"));
    }
    names
}

fn recording_rules() -> (BTreeSet<String>, usize) {
    let doc = yaml("collector/rules/pulsecheck.rules.yml");
    let mut records = BTreeSet::new();
    let mut alerts = 0;
    for group in doc["groups"].as_sequence().unwrap() {
        for rule in group["rules"].as_sequence().unwrap() {
            if let Some(r) = rule["record"].as_str() {
                records.insert(r.to_owned());
            }
            if rule["alert"].is_string() {
                alerts += 1;
            }
        }
    }
    (records, alerts)
}

/// Every PromQL expression in the dashboard (panels, rows' panels, templating).
fn dashboard_queries(dash: &serde_json::Value) -> Vec<String> {
    fn panels(v: &serde_json::Value, out: &mut Vec<String>) {
        for p in v.as_array().into_iter().flatten() {
            for t in p["targets"].as_array().into_iter().flatten() {
                if let Some(e) = t["expr"].as_str() {
                    out.push(e.to_owned());
                }
            }
            panels(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    panels(&dash["panels"], &mut out);
    for var in dash["templating"]["list"].as_array().into_iter().flatten() {
        let q = var["query"]["query"]
            .as_str()
            .or(var["query"].as_str())
            .unwrap_or("");
        // label_values(metric, label): only the metric is a series name.
        if let Some(inner) = q.strip_prefix("label_values(") {
            out.push(inner.split(',').next().unwrap().to_owned());
        } else if !q.is_empty() {
            out.push(q.to_owned());
        }
    }
    out
}

/// GET `url` until `ok` accepts the JSON body, within 20 s.
async fn wait_for_json(url: &str, ok: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let body: serde_json::Value = reqwest::get(url).await.unwrap().json().await.unwrap();
        if ok(&body) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{url} never matched; last body: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_metric_exists_in_a_scrape_span_metrics_or_rules() {
    let dash: serde_json::Value = serde_json::from_str(&read(
        "collector/grafana/dashboards/pulsecheck-academy.json",
    ))
    .expect("the dashboard is JSON");
    assert!(dash["uid"].is_string() && dash["title"].is_string());
    // The academy as in the stack: Stripe and PayPal behind the stand-in script, Redis.
    let stand_in = StandInScript::start("0");
    let academy = Academy::spawn(&[
        ("STRIPE_API_BASE", stand_in.base.as_str()),
        ("STRIPE_API_KEY", "sk_test_stack"),
        ("PAYPAL_API_BASE", stand_in.base.as_str()),
        ("PAYPAL_CLIENT_ID", "stack-client"),
        ("PAYPAL_CLIENT_SECRET", "stack-secret"),
        ("REDIS_URL", "redis://127.0.0.1:6379/0"),
    ]);
    // The stand-in answers the academy's real Stripe and PayPal checks.
    let health = wait_for_json(&academy.url("/health"), |h| {
        ["stripe", "paypal", "redis"]
            .iter()
            .all(|c| h["checks"][c]["status"] == "up")
    })
    .await;
    assert_eq!(health["checks"]["stripe"]["circuit"], "closed", "{health}");
    for path in [
        "/api/courses",
        "/api/courses/1",
        "/api/courses/2",
        "/api/simulate?status=503",
    ] {
        reqwest::get(academy.url(path)).await.unwrap();
    }
    // The aggregator folds once a second and a render is reused for a second.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let text = reqwest::get(academy.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let scraped = stack::exposition_names(&text);
    let spans = span_metric_names(&yaml(COLLECTOR_CONFIGS[0]));
    assert_eq!(
        spans,
        span_metric_names(&yaml(COLLECTOR_CONFIGS[1])),
        "both profiles export the same span metrics"
    );
    let (records, alerts) = recording_rules();
    // ALERTS is the series Prometheus itself writes for every pending or firing alerting rule.
    assert!(
        alerts > 0,
        "the rules file defines alerts, so ALERTS exists"
    );
    let builtin = BTreeSet::from(["ALERTS".to_owned()]);

    let queries = dashboard_queries(&dash);
    assert!(
        queries.len() >= 15,
        "the dashboard has its panels: {queries:?}"
    );
    let mut from = BTreeMap::<&str, usize>::new();
    let mut unknown = Vec::new();
    for q in &queries {
        let names = promql_metric_names(q);
        assert!(!names.is_empty(), "no metric in `{q}`");
        for n in names {
            let source = if scraped.contains(&n) {
                "scrape"
            } else if spans.contains(&n) {
                "span metrics"
            } else if records.contains(&n) {
                "rules"
            } else if builtin.contains(&n) {
                "prometheus"
            } else {
                unknown.push(format!("{n} (in `{q}`)"));
                continue;
            };
            *from.entry(source).or_default() += 1;
        }
    }
    assert!(
        unknown.is_empty(),
        "metrics the stack does not produce:\n{}",
        unknown.join("\n")
    );
    for source in ["scrape", "span metrics", "rules", "prometheus"] {
        assert!(
            from.get(source).is_some_and(|n| *n > 0),
            "no panel reads from {source}: {from:?}"
        );
    }
    // The panels the issue asks for.
    let all = queries.join("\n");
    for want in [
        "pulsecheck_budget_utilization_ratio",
        "pulsecheck_health_check_status",
        "pulsecheck_circuit_breaker_state",
        "histogram_quantile(0.99",
        "ALERTS",
    ] {
        assert!(all.contains(want), "no panel uses {want}");
    }

    // The datasources' trace-to-metrics queries ($$ is Grafana's escape for a literal $).
    let ds = read("collector/grafana/provisioning/datasources/datasources.yaml").replace("$$", "$");
    let ds: Value = serde_norway::from_str(&ds).unwrap();
    let mut checked = 0;
    for d in ds["datasources"].as_sequence().unwrap() {
        for q in d["jsonData"]["tracesToMetrics"]["queries"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            for n in promql_metric_names(q["query"].as_str().unwrap()) {
                assert!(
                    spans.contains(&n),
                    "datasource {}: {n} is not a span metric",
                    d["name"].as_str().unwrap()
                );
                checked += 1;
            }
        }
        if let Some(dest) = d["jsonData"]["exemplarTraceIdDestinations"].as_sequence() {
            assert!(
                dest.iter().any(|x| x["datasourceUid"] == "tempo"),
                "exemplars link to Tempo"
            );
        }
    }
    assert!(checked > 0);
}

/// The label `/metrics` exemplars (and the collector's span-metrics exemplars) carry the trace
/// id in: `# {trace_id="..."}`.
const EXEMPLAR_TRACE_LABEL: &str = "trace_id";
/// Histograms whose buckets carry exemplars in the stack.
const EXEMPLAR_HISTOGRAMS: [&str; 2] = [
    "pulsecheck_http_server_request_duration_seconds_bucket",
    "traces_span_metrics_duration_seconds_bucket",
];

#[test]
fn exemplars_are_stored_and_latency_panels_link_them_to_traces() {
    // Prometheus keeps exemplars only behind its feature flag (and then asks for OpenMetrics).
    let compose = yaml("docker-compose.yml");
    let flags = list(&compose["services"]["prometheus"]["command"]);
    assert!(
        flags
            .iter()
            .filter_map(|f| f.strip_prefix("--enable-feature="))
            .flat_map(|f| f.split(','))
            .any(|f| f == "exemplar-storage"),
        "the stack's Prometheus does not store exemplars: {flags:?}"
    );

    // The Prometheus datasource turns an exemplar's trace_id into a link to a tracing
    // datasource that exists.
    let ds = yaml("collector/grafana/provisioning/datasources/datasources.yaml");
    let sources = ds["datasources"].as_sequence().expect("datasources");
    let tracing: BTreeSet<&str> = sources
        .iter()
        .filter(|d| matches!(d["type"].as_str(), Some("tempo" | "jaeger")))
        .filter_map(|d| d["uid"].as_str())
        .collect();
    let prometheus = sources
        .iter()
        .find(|d| d["type"] == "prometheus")
        .expect("a Prometheus datasource");
    let linked: BTreeSet<&str> = prometheus["jsonData"]["exemplarTraceIdDestinations"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter(|d| d["name"] == EXEMPLAR_TRACE_LABEL)
        .filter_map(|d| d["datasourceUid"].as_str())
        .collect();
    assert!(
        !linked.is_empty() && linked.is_subset(&tracing),
        "exemplar label {EXEMPLAR_TRACE_LABEL} links to {linked:?}, tracing datasources are {tracing:?}"
    );
    let prometheus_uid = prometheus["uid"].as_str().expect("uid");

    // Every dashboard query over those histograms asks Grafana for their exemplars, on that
    // datasource; each histogram has such a panel.
    let dash: serde_json::Value = serde_json::from_str(&read(
        "collector/grafana/dashboards/pulsecheck-academy.json",
    ))
    .expect("the dashboard is JSON");
    fn targets(v: &serde_json::Value, out: &mut Vec<(serde_json::Value, serde_json::Value)>) {
        for p in v.as_array().into_iter().flatten() {
            for t in p["targets"].as_array().into_iter().flatten() {
                out.push((p.clone(), t.clone()));
            }
            targets(&p["panels"], out);
        }
    }
    let mut all = Vec::new();
    targets(&dash["panels"], &mut all);
    for histogram in EXEMPLAR_HISTOGRAMS {
        let using: Vec<_> = all
            .iter()
            .filter(|(_, t)| t["expr"].as_str().is_some_and(|e| e.contains(histogram)))
            .collect();
        assert!(!using.is_empty(), "no panel reads {histogram}");
        for (panel, target) in using {
            let title = panel["title"].as_str().unwrap_or_default();
            assert_eq!(
                target["exemplar"],
                serde_json::Value::Bool(true),
                "panel {title:?} hides the exemplars of {histogram}"
            );
            let uid = target["datasource"]["uid"]
                .as_str()
                .or(panel["datasource"]["uid"].as_str());
            assert_eq!(uid, Some(prometheus_uid), "panel {title:?}");
        }
    }
}

#[tokio::test]
async fn the_stand_in_script_serves_canned_answers_and_failures() {
    let stand_in = StandInScript::start("0");
    let http = reqwest::Client::new();
    let r = http
        .get(format!("{}/v1/balance", stand_in.base))
        .bearer_auth("sk")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["object"],
        "balance"
    );
    let r = http
        .post(format!("{}/v1/oauth2/token", stand_in.base))
        .basic_auth("id", Some("s"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["token_type"],
        "Bearer"
    );
    let r = http
        .post(format!("{}/v2/checkout/orders", stand_in.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["status"],
        "CREATED"
    );
    let r = http
        .get(format!("{}/v1/nothing-here", stand_in.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // Failures on demand, for circuit-breaker demos; webhooks still land.
    let r = http
        .post(format!("{}/__fail?rate=1", stand_in.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .get(format!("{}/v1/balance", stand_in.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let r = http
        .post(format!("{}/alertmanager/webhook", stand_in.base))
        .json(&serde_json::json!({"alerts": [{"labels": {"alertname": "X"}, "status": "firing"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[test]
fn dockerfile_builds_both_binaries_into_a_small_non_root_image() {
    let d = read("Dockerfile");
    assert!(
        d.contains("--example academy")
            && d.contains("--package pulsecheck-cli")
            && d.contains("--bin pulsecheck")
    );
    let stages: Vec<&str> = d.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(stages.len(), 2, "builder and runtime: {stages:?}");
    assert!(
        stages[1].contains("slim") || stages[1].contains("distroless"),
        "{}",
        stages[1]
    );
    assert!(
        d.lines()
            .any(|l| l.starts_with("USER ") && !l.contains("root") && !l.contains(" 0"))
    );
    // Whatever Cargo.toml declares must be in the build context.
    let ignore = read(".dockerignore");
    for kept in [
        "benches/\n",
        "tests/\n",
        "src/\n",
        "cli/\n",
        "examples/\n",
        "proto/\n",
    ] {
        assert!(
            !ignore.lines().any(|l| format!("{l}\n") == kept),
            ".dockerignore drops {kept}"
        );
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_sequence()
        .unwrap_or_else(|| panic!("not a list: {v:?}"))
        .iter()
        .map(|x| x.as_str().expect("a string").to_owned())
        .collect()
}

/// Only UIs and OTLP listen on every interface; every other published port binds 127.0.0.1.
#[test]
fn published_ports_bind_loopback_unless_a_ui_or_otlp() {
    // Grafana, Jaeger, Prometheus, Alertmanager, Mailpit, the academy (its dashboard), OTLP.
    const PUBLIC: &[&str] = &[
        "3000", "16686", "9090", "9093", "8025", "8080", "4317", "4318",
    ];
    let doc = yaml("docker-compose.yml");
    let mut seen = 0;
    for (name, svc) in doc["services"].as_mapping().unwrap() {
        let name = name.as_str().unwrap();
        for p in svc["ports"].as_sequence().into_iter().flatten() {
            seen += 1;
            let p = p
                .as_str()
                .unwrap_or_else(|| panic!("{name}: use the short port syntax: {p:?}"));
            let parts: Vec<&str> = p.split(':').collect();
            let host_port = match parts.as_slice() {
                [ip, _, _] => {
                    assert_eq!(*ip, "127.0.0.1", "{name}: {p}");
                    continue;
                }
                [host, _] => *host,
                _ => panic!("{name}: no host port in {p}"),
            };
            assert!(
                PUBLIC.contains(&host_port),
                "{name}: {p} is published on every interface; bind it as \"127.0.0.1:{p}\""
            );
        }
    }
    assert!(seen >= 10, "only {seen} published ports found");
    // The ones the stack's comment names as private.
    let text = read("docker-compose.yml");
    for p in ["9095", "12111", "13133", "55679", "3200"] {
        assert!(
            text.contains(&format!("\"127.0.0.1:{p}:{p}\"")),
            "{p} not bound to 127.0.0.1"
        );
    }
}

/// Tempo runs as uid 10001 and a fresh named volume belongs to root: a one-shot step hands the
/// volume over before Tempo starts, or Tempo stops on `mkdir /var/tempo/blocks: permission
/// denied`.
#[test]
fn tempo_gets_its_volume_before_it_starts() {
    let doc = yaml("docker-compose.yml");
    let services = &doc["services"];
    let tempo = &services["tempo"];
    let volume = strings(&tempo["volumes"])
        .into_iter()
        .find(|v| !v.starts_with("./"))
        .expect("tempo's named volume");
    let (name, path) = volume.split_once(':').unwrap();
    assert!(
        read("collector/tempo.yaml").contains(&format!("{path}/blocks")),
        "tempo.yaml keeps its blocks under {path}"
    );
    assert!(tempo["user"].is_null(), "tempo keeps its image's uid");
    assert_eq!(
        tempo["depends_on"]["tempo-init"]["condition"].as_str(),
        Some("service_completed_successfully")
    );
    let init = &services["tempo-init"];
    assert_eq!(init["image"], tempo["image"], "no extra image to pull");
    assert_eq!(init["user"].as_str(), Some("root"));
    assert_eq!(
        strings(&init["entrypoint"]),
        ["chown", "-R", "10001:10001", path]
    );
    assert!(
        strings(&init["volumes"]).contains(&format!("{name}:{path}")),
        "the init step mounts the same volume"
    );
}

fn receivers(labels: &[(&str, &str)]) -> String {
    let mut cmd = tool("amtool", "prometheus-alertmanager");
    cmd.args(["config", "routes", "test", "--config.file"])
        .arg(repo_file("collector/alertmanager.yml"))
        .args(labels.iter().map(|(k, v)| format!("{k}={v}")));
    let out = cmd.output().expect("run amtool");
    assert!(
        out.status.success(),
        "amtool config routes test {labels:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Prometheus (the generated rules) and the academy's own notifier both evaluate the budget
/// and SLO alerts: each must reach a receiver once. The academy's copies of the names the rules
/// raise go to the `duplicate` receiver, which has no integrations; Prometheus' copies and the
/// alerts only the academy raises (dependencies, breakers, memory, CPU) reach people.
#[test]
fn each_alert_reaches_people_by_one_path() {
    let doc = yaml("docker-compose.yml");
    let env = &doc["services"]["academy"]["environment"];
    assert!(env["PULSE_ALERTMANAGER_URL"].is_string());
    let service = env["OTEL_SERVICE_NAME"].as_str().unwrap();
    let rules = yaml("collector/rules/pulsecheck.rules.yml");
    let names: BTreeSet<String> = rules["groups"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_sequence().unwrap())
        .filter_map(|r| r["alert"].as_str().map(str::to_owned))
        .collect();
    assert!(names.len() >= 10, "{names:?}");
    assert_eq!(
        receivers(&[("alertname", "SomethingElse"), ("severity", "warning")]),
        "mailpit",
        "control: an unmatched alert is mailed"
    );
    for name in &names {
        for severity in ["warning", "critical", "page", "ticket"] {
            let from_academy = receivers(&[
                ("alertname", name),
                ("severity", severity),
                ("service", service),
            ]);
            assert_eq!(
                from_academy, "duplicate",
                "{name} {severity} from the academy"
            );
            let from_prometheus = receivers(&[
                ("alertname", name),
                ("severity", severity),
                ("job", service),
                ("stack", "pulsecheck-local"),
            ]);
            assert!(
                from_prometheus.ends_with("mailpit"),
                "{name} {severity} from Prometheus: {from_prometheus}"
            );
        }
    }
    for only_in_process in [
        "PulsecheckDependencyDown",
        "PulsecheckCircuitBreakerOpen",
        "PulsecheckMemoryWarning",
        "PulsecheckMemoryCritical",
        "PulsecheckProcessCpuHigh",
        "PulsecheckHostMemoryHigh",
    ] {
        assert!(!names.contains(only_in_process), "{only_in_process}");
        let r = receivers(&[
            ("alertname", only_in_process),
            ("severity", "critical"),
            ("service", service),
        ]);
        assert_eq!(r, "webhook,mailpit", "{only_in_process}");
    }
}

/// The real Alertmanager of the stack's config, on a loopback port; killed on drop.
struct RunningAlertmanager {
    child: std::process::Child,
    url: String,
}

impl RunningAlertmanager {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = scratch("alertmanager-run");
        let mut cmd = tool("prometheus-alertmanager", "prometheus-alertmanager");
        cmd.arg("--config.file")
            .arg(repo_file("collector/alertmanager.yml"))
            .arg("--storage.path")
            .arg(&dir)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            // No gossip port: a single local instance.
            .arg("--cluster.listen-address=")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let child = cmd.spawn().expect("start prometheus-alertmanager");
        let am = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !reqwest::get(format!("{}/-/ready", am.url))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            assert!(Instant::now() < deadline, "Alertmanager never became ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        am
    }
}

impl Drop for RunningAlertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The incident end to end: the real academy (the stack's service name, a dead Redis, a
/// latency budget it breaks) notifies a real Alertmanager running the stack's config, and a
/// Prometheus-shaped copy of the budget alert arrives too. Alertmanager routes the academy's
/// copy of the budget alert to `duplicate` (nobody) and the Prometheus one to people; the
/// dependency alert, which only the academy raises, reaches people.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_alertmanager_with_the_stack_config_delivers_each_alert_once() {
    let am = RunningAlertmanager::start().await;
    let doc = yaml("docker-compose.yml");
    let service = doc["services"]["academy"]["environment"]["OTEL_SERVICE_NAME"]
        .as_str()
        .unwrap()
        .to_owned();
    let (svc, am_url) = (service.clone(), am.url.clone());
    let academy = tokio::task::spawn_blocking(move || {
        Academy::spawn(&[
            ("OTEL_SERVICE_NAME", &svc),
            ("PULSE_ALERTMANAGER_URL", &am_url),
            ("REDIS_URL", "redis://127.0.0.1:1"),
            ("PULSE_BUDGET_P95_MS", "5"),
            ("PULSE_BUDGET_MIN_REQUESTS", "1"),
            ("PULSE_ALERT_INTERVAL", "200ms"),
            ("PULSE_ALERT_FOR", "0s"),
        ])
    })
    .await
    .unwrap();
    let client = reqwest::Client::new();
    for _ in 0..10 {
        client
            .get(academy.url("/api/simulate?latency_ms=30"))
            .send()
            .await
            .unwrap();
    }
    // What Prometheus sends for the same breach (labels of the generated rule).
    let prometheus_copy = serde_json::json!([{
        "labels": {"alertname": "PulsecheckLatencyP95Critical", "severity": "critical",
                   "job": service, "stack": "pulsecheck-local"},
        "annotations": {"summary": "P95 latency of the service over its budget"},
    }]);
    let r = client
        .post(format!("{}/api/v2/alerts", am.url))
        .json(&prometheus_copy)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());

    let receivers_of = |a: &serde_json::Value| -> Vec<String> {
        a["receivers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let alerts = loop {
        let alerts: Vec<serde_json::Value> = client
            .get(format!("{}/api/v2/alerts", am.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let from_academy = |name: &str| {
            alerts
                .iter()
                .any(|a| a["labels"]["alertname"] == name && a["labels"]["service"] == *service)
        };
        if from_academy("PulsecheckLatencyP95Critical") && from_academy("PulsecheckDependencyDown")
        {
            break alerts;
        }
        assert!(
            Instant::now() < deadline,
            "the academy's alerts never reached Alertmanager: {alerts:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let p95: Vec<&serde_json::Value> = alerts
        .iter()
        .filter(|a| a["labels"]["alertname"] == "PulsecheckLatencyP95Critical")
        .collect();
    assert_eq!(p95.len(), 2, "both copies arrived: {p95:?}");
    let to_people: Vec<_> = p95
        .iter()
        .filter(|a| receivers_of(a) != ["duplicate"])
        .collect();
    assert_eq!(to_people.len(), 1, "one copy reaches people: {p95:?}");
    assert_eq!(to_people[0]["labels"]["job"], *service, "{to_people:?}");
    assert!(receivers_of(to_people[0]).contains(&"mailpit".to_owned()));
    let down = alerts
        .iter()
        .find(|a| a["labels"]["alertname"] == "PulsecheckDependencyDown")
        .unwrap();
    assert!(receivers_of(down).contains(&"mailpit".to_owned()), "{down}");
}

/// The stack sets an admin token, so the README's link to the academy's page must carry it
/// (`#token=`), or the page opens without its data.
#[test]
fn the_readme_opens_the_stack_dashboard_with_its_token() {
    let doc = yaml("docker-compose.yml");
    let token = doc["services"]["academy"]["environment"]["PULSE_ADMIN_TOKEN"]
        .as_str()
        .expect("the stack sets PULSE_ADMIN_TOKEN");
    let readme = read("README.md");
    let link = format!("http://localhost:8080/health/dashboard#token={token}");
    assert!(readme.contains(&link), "README's table lacks {link}");
}
