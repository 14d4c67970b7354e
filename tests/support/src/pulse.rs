//! A [`Pulse`] as the tests build and serve it.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let pulse = support::pulse::builder().build().unwrap();
//! let addr = support::pulse::serve(support::pulse::app(&pulse)).await;
//! let live = reqwest::get(format!("http://{addr}/health/live")).await.unwrap();
//! assert_eq!(live.status(), 200);
//! # }
//! ```

use std::net::SocketAddr;

use axum::Router;
use pulsecheck::health::{HealthConfig, Refresh};
use pulsecheck::{Pulse, PulseBuilder};

/// `Pulse::builder()` with nothing exported (the environment's `OTEL_*` ignored) and health
/// probed when asked (`Refresh::OnDemand`), so an answer reflects the checks at that moment.
pub fn builder() -> PulseBuilder {
    Pulse::builder()
        .without_telemetry()
        .health_config(HealthConfig {
            refresh: Refresh::OnDemand,
            ..HealthConfig::default()
        })
}

/// pulsecheck's routes behind its layer, nothing else.
pub fn app(p: &Pulse) -> Router {
    Router::new().merge(p.routes()).layer(p.layer())
}

/// `app` served on a free port of 127.0.0.1 until the runtime ends; its address.
pub async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}
