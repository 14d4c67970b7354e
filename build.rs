//! Generates the grpc.health.v1 types and service from `proto/grpc/health/v1/health.proto`
//! when the `grpc` feature is on; does nothing otherwise. No `protoc` is needed: protox
//! compiles the file in pure Rust and tonic-prost-build generates code from the descriptors.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    // Build scripts see the package's features as `cfg(feature)`: without `grpc` this is
    // all there is.
    #[cfg(feature = "grpc")]
    if let Err(e) = grpc::generate() {
        println!("cargo::error=grpc health code generation failed: {e}");
    }
}

#[cfg(feature = "grpc")]
mod grpc {
    const PROTO: &str = "proto/grpc/health/v1/health.proto";

    pub(super) fn generate() -> Result<(), Box<dyn std::error::Error>> {
        println!("cargo::rerun-if-changed={PROTO}");
        let descriptors = protox::compile([PROTO], ["proto"])?;
        tonic_prost_build::configure()
            .build_server(true)
            .build_client(true)
            .build_transport(true)
            .compile_fds(descriptors)?;
        Ok(())
    }
}
