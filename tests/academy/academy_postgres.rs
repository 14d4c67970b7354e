//! The academy example on a real PostgreSQL (`DATABASE_URL=postgres://...`): schema, seed data,
//! queries and inserts, with the database spans exported as children of the server span.
//!
//! Needs PostgreSQL on 127.0.0.1:5432 with database `test` (`PULSE_TEST_DATABASE_URL` overrides);
//! `scripts/test.sh` starts it. Fails, never skips, when it is missing.

use std::time::Duration;

use support::academy::Academy;
use support::otlp::{Receiver, attr_str, wait_for};

fn database_url() -> String {
    std::env::var("PULSE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn academy_serves_from_postgres_with_traced_queries() {
    let url = database_url();
    assert!(
        std::net::TcpStream::connect("127.0.0.1:5432").is_ok() || !url.contains("127.0.0.1:5432"),
        "PostgreSQL is not reachable on 127.0.0.1:5432: run scripts/test.sh, which starts it"
    );
    let rx = Receiver::start().await;
    let endpoint = rx.endpoint("grpc");
    let mut app = Academy::spawn(&[
        ("DATABASE_URL", url.as_str()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ]);
    assert!(
        app.json_lines()
            .iter()
            .any(|l| l["message"] == "database ready" && l["db"] == "postgresql"),
        "the example did not use PostgreSQL"
    );
    let client = reqwest::Client::new();
    let courses: serde_json::Value = app.get_json("/api/courses").await;
    assert!(
        courses.as_array().is_some_and(|c| c.len() >= 5),
        "{courses}"
    );

    let email = format!("pg-{}@example.com", std::process::id());
    let created = client
        .post(app.url("/api/enrollments"))
        .json(&serde_json::json!({ "course_id": 3, "email": email }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let body: serde_json::Value = created.json().await.unwrap();
    assert!(body["id"].as_i64().is_some_and(|id| id > 0), "{body}");

    let missing = client
        .post(app.url("/api/enrollments"))
        .json(&serde_json::json!({ "course_id": 999_999, "email": "x@example.com" }))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let invalid = client
        .post(app.url("/api/enrollments"))
        .json(&serde_json::json!({ "course_id": 1, "email": "not-an-address" }))
        .send()
        .await
        .unwrap();
    assert_eq!(invalid.status(), 400);

    let insert = wait_for("the INSERT span", Duration::from_secs(20), || {
        rx.store
            .spans()
            .into_iter()
            .find(|s| s.name == "INSERT academy_enrollments")
    })
    .await;
    assert_eq!(
        attr_str(&insert.attributes, "db.system.name"),
        Some("postgresql")
    );
    let server = rx
        .store
        .spans()
        .into_iter()
        .find(|s| s.span_id == insert.parent_span_id)
        .expect("the INSERT span's parent");
    assert_eq!(server.name, "POST /api/enrollments");
    let (status, _) = app.terminate();
    assert!(status.success());
}
