# The academy example and the pulsecheck CLI in one small image (docker-compose.yml builds it).
#   docker build -t pulsecheck-academy .
#   docker run --rm -p 8080:8080 pulsecheck-academy            # embedded SQLite, no other server

# Builder: the toolchain the crate is tested with (sqlx 0.9 needs Rust 1.94 or later).
FROM rust:1.95-trixie AS builder
WORKDIR /src
COPY . .
# Dependencies of examples (dev-dependencies) compile here too; the runtime image keeps only
# the two binaries: the example from the library's package, the command line from cli/.
RUN cargo build --release --locked --package pulsecheck --example academy \
    --package pulsecheck-cli --bin pulsecheck \
 && install -D -m 0755 target/release/examples/academy /out/academy \
 && install -D -m 0755 target/release/pulsecheck /out/pulsecheck

FROM debian:trixie-slim
# ca-certificates: the HTTPS checks (Stripe, PayPal) verify servers against the system roots.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /nonexistent --shell /usr/sbin/nologin academy
COPY --from=builder /out/academy /out/pulsecheck /usr/local/bin/
USER 10001:10001
ENV PORT=8080 HOST=0.0.0.0 PULSE_LOG_FORMAT=json
EXPOSE 8080 9095
# `pulsecheck get ready` exits non-zero unless /health/ready answers 200.
HEALTHCHECK --interval=5s --timeout=3s --start-period=20s --retries=5 \
  CMD ["pulsecheck", "get", "ready", "http://127.0.0.1:8080", "--raw"]
ENTRYPOINT ["academy"]
