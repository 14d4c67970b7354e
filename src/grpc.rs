//! The standard gRPC health service, `grpc.health.v1.Health`. Needs the `grpc` cargo feature.

/// The `grpc.health.v1` messages, client and server, generated from
/// `proto/grpc/health/v1/health.proto` at build time.
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod proto {
    tonic::include_proto!("grpc.health.v1");
}
