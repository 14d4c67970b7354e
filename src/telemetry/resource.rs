//! The resource describing this process: service, host and process attributes.

use opentelemetry::KeyValue;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::resource::{EnvResourceDetector, TelemetryResourceDetector};
use opentelemetry_semantic_conventions::{SCHEMA_URL, attribute as semconv};

use super::env::var;

/// Builds the resource. Precedence, lowest first: our detected attributes, the name and version
/// given in code, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_SERVICE_NAME`. The environment wins over
/// code here so that operators can rename a service without a rebuild.
pub(crate) fn build(service_name: Option<&str>, service_version: Option<&str>) -> Resource {
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "unknown".into());
    let mut attrs = vec![
        KeyValue::new(
            semconv::HOST_NAME,
            gethostname::gethostname().to_string_lossy().into_owned(),
        ),
        KeyValue::new(semconv::HOST_ARCH, host_arch()),
        KeyValue::new(semconv::OS_TYPE, std::env::consts::OS),
        KeyValue::new(semconv::PROCESS_PID, i64::from(std::process::id())),
        KeyValue::new(semconv::PROCESS_EXECUTABLE_NAME, exe.clone()),
        KeyValue::new(semconv::PROCESS_RUNTIME_NAME, "rust"),
        KeyValue::new(
            semconv::SERVICE_INSTANCE_ID,
            uuid::Uuid::new_v4().to_string(),
        ),
        KeyValue::new(
            semconv::SERVICE_NAME,
            service_name.map_or_else(|| format!("unknown_service:{exe}"), str::to_owned),
        ),
    ];
    if let Some(v) = service_version {
        attrs.push(KeyValue::new(semconv::SERVICE_VERSION, v.to_owned()));
    }
    let mut builder = Resource::builder_empty()
        .with_detector(Box::new(TelemetryResourceDetector))
        .with_schema_url(attrs, SCHEMA_URL)
        .with_detector(Box::new(EnvResourceDetector::new()));
    if let Some(name) = var("OTEL_SERVICE_NAME") {
        builder = builder.with_service_name(name);
    }
    builder.build()
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "x86",
        "arm" => "arm32",
        "powerpc64" => "ppc64",
        "s390x" => "s390x",
        other => other,
    }
}
