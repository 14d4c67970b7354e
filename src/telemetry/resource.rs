//! The resource describing this process: service, host and process attributes, and the
//! `service.name` every signal and alert notification carries.

use opentelemetry::{Key, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::resource::{
    EnvResourceDetector, ResourceDetector, TelemetryResourceDetector,
};
use opentelemetry_semantic_conventions::{SCHEMA_URL, attribute as semconv};

use crate::env::{OTEL_SERVICE_NAME, var};

/// Builds the resource. Precedence, lowest first: our detected attributes, the name and version
/// given in code, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_SERVICE_NAME`. The environment wins over
/// code here so that operators can rename a service without a rebuild.
pub(crate) fn build(service_name: Option<&str>, service_version: Option<&str>) -> Resource {
    let mut attrs = vec![
        KeyValue::new(
            semconv::HOST_NAME,
            gethostname::gethostname().to_string_lossy().into_owned(),
        ),
        KeyValue::new(semconv::HOST_ARCH, host_arch()),
        KeyValue::new(semconv::OS_TYPE, std::env::consts::OS),
        KeyValue::new(semconv::PROCESS_PID, i64::from(std::process::id())),
        KeyValue::new(semconv::PROCESS_EXECUTABLE_NAME, executable()),
        KeyValue::new(semconv::PROCESS_RUNTIME_NAME, "rust"),
        KeyValue::new(
            semconv::SERVICE_INSTANCE_ID,
            uuid::Uuid::new_v4().to_string(),
        ),
    ];
    if let Some(v) = service_version {
        attrs.push(KeyValue::new(semconv::SERVICE_VERSION, v.to_owned()));
    }
    Resource::builder_empty()
        .with_detector(Box::new(TelemetryResourceDetector))
        .with_schema_url(attrs, SCHEMA_URL)
        .with_detector(Box::new(EnvResourceDetector::new()))
        .with_service_name(service_name_from_env(service_name))
        .build()
}

/// `service.name` as the resource, the alerts and the notifications carry it:
/// `OTEL_SERVICE_NAME`, else a `service.name` in `OTEL_RESOURCE_ATTRIBUTES`, else the name
/// given in code, else `unknown_service:<executable>` (the OpenTelemetry specification's
/// fallback).
pub(crate) fn service_name_from_env(code: Option<&str>) -> String {
    let in_attributes = || {
        EnvResourceDetector::new()
            .detect()
            .get(&Key::from_static_str(semconv::SERVICE_NAME))
            .map(|v| v.as_str().into_owned())
    };
    service_name(var(OTEL_SERVICE_NAME), in_attributes, code)
}

/// [`service_name_from_env`] with the environment's answers given.
fn service_name(
    otel_service_name: Option<String>,
    in_attributes: impl FnOnce() -> Option<String>,
    code: Option<&str>,
) -> String {
    let blank = |s: &String| s.trim().is_empty();
    otel_service_name
        .filter(|s| !blank(s))
        .or_else(|| in_attributes().filter(|s| !blank(s)))
        .or_else(|| code.map(str::to_owned))
        .unwrap_or_else(|| format!("unknown_service:{}", executable()))
}

/// The executable's file name, `unknown` when the platform does not say.
fn executable() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "unknown".into())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_wins_over_code_and_the_fallback_names_the_executable() {
        let name = |env: Option<&str>, attrs: Option<&str>, code: Option<&str>| {
            service_name(env.map(Into::into), || attrs.map(Into::into), code)
        };
        assert_eq!(name(Some("env"), Some("attrs"), Some("code")), "env");
        assert_eq!(name(None, Some("attrs"), Some("code")), "attrs");
        assert_eq!(name(Some(" "), None, Some("code")), "code");
        let fallback = name(None, None, None);
        assert_eq!(fallback, format!("unknown_service:{}", executable()));
        assert!(fallback.len() > "unknown_service:".len(), "{fallback}");
    }
}
