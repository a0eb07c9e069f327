# One image for the API and both consumers (`api`, `email-consumer`,
# `inventory-consumer`); docker-compose.yml builds it once (service `api`) and the other
# services run it by name, picking the binary with `command`.
#
# Targets:
# - the default (last stage): builds the workspace from source in `rust:<toolchain>`;
#   what operators build.
# - `prebuilt`: copies release binaries already built on a Debian 12 host
#   (`cargo build --release`, the native stack's) from target/release/ instead of
#   compiling the workspace a second time; what scripts/compose-test.sh builds.
# Both strip the debug line tables that the native profile keeps for backtraces and end
# in the same runtime stage. BuildKit (Compose v2, and `docker build` since Docker 23)
# builds only the stages a target needs, so the default target never reads target/ and
# `prebuilt` never compiles.

# Run time: glibc and zlib (both in bookworm-slim), CA certificates for TLS to a real
# SMTP server or managed services, curl for the health checks. Nothing else.
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin shop
# The revision label (build argument SHOP_REVISION): compose-test.sh sets a new one to
# roll onto an image that differs from the running one.
ARG SHOP_REVISION=dev
LABEL org.opencontainers.image.title="shop-api" org.opencontainers.image.revision="$SHOP_REVISION"
ENV HOST=0.0.0.0 PORT=5000
# API; the consumers' health and metrics listeners (EMAIL_/INVENTORY_CONSUMER_HEALTH_PORT).
EXPOSE 5000 9101 9102
CMD ["api", "serve"]

FROM debian:bookworm-slim AS strip-prebuilt
RUN apt-get update \
    && apt-get install -y --no-install-recommends binutils \
    && rm -rf /var/lib/apt/lists/*
COPY target/release/api target/release/email-consumer target/release/inventory-consumer /out/
RUN strip --strip-debug /out/*

FROM runtime AS prebuilt
COPY --from=strip-prebuilt /out/ /usr/local/bin/
COPY scripts/image-check.sh /usr/local/lib/shop/image-check.sh
RUN sh /usr/local/lib/shop/image-check.sh
USER shop:shop

# Build stage: rust:<toolchain>-bookworm has what the bundled librdkafka needs. rdkafka
# is used with its default features (`libz`, `tokio`): rdkafka-sys builds librdkafka
# from source with its own configure script (bash, make, gcc, g++) and links it
# statically, with SSL, SASL/GSSAPI, zstd and curl disabled; zlib comes from the
# system (zlib1g-dev here, libz.so.1 at run time). cmake would be needed only with
# rdkafka's `cmake-build` feature, which is not used. No OpenSSL anywhere: PostgreSQL,
# SMTP and Redis clients use rustls.
FROM rust:1.95.0-bookworm AS build
WORKDIR /src
ENV CARGO_TERM_COLOR=never
# rust-toolchain.toml is not copied on purpose: the image already is toolchain 1.95.0,
# and the file's extra components (rustfmt, clippy) would be downloaded for nothing.

# 1. Dependencies only: the manifests plus an empty stub for every target the release
#    build compiles. This layer is rebuilt only when a manifest or Cargo.lock changes.
COPY Cargo.toml Cargo.lock ./
COPY api/Cargo.toml api/Cargo.toml
COPY common/Cargo.toml common/Cargo.toml
COPY consumers/Cargo.toml consumers/Cargo.toml
COPY migrations/Cargo.toml migrations/Cargo.toml
COPY tests/Cargo.toml tests/Cargo.toml
RUN mkdir -p api/src common/src consumers/src/bin migrations/src tests/src/bin \
    && touch api/src/lib.rs common/src/lib.rs consumers/src/lib.rs migrations/src/lib.rs tests/src/lib.rs \
    && for bin in api/src/main.rs consumers/src/bin/email-consumer.rs \
                  consumers/src/bin/inventory-consumer.rs tests/src/bin/bench-orders.rs; do \
           echo 'fn main() {}' > "$bin"; \
       done \
    && cargo build --release --locked --bin api --bin email-consumer --bin inventory-consumer

# 2. The sources. Only what the binaries are built from is copied (never .env, target/
#    or .stack/). Every source file is touched so that cargo rebuilds the workspace
#    crates instead of keeping the stubs (COPY keeps the files' old modification times).
COPY api api
COPY common common
COPY consumers consumers
COPY migrations migrations
COPY tests tests
RUN find api common consumers migrations tests -name '*.rs' -exec touch {} + \
    && cargo build --release --locked --bin api --bin email-consumer --bin inventory-consumer \
    && mkdir /out \
    && cp target/release/api target/release/email-consumer target/release/inventory-consumer /out/ \
    && strip --strip-debug /out/*

# The default target: the binaries built above.
FROM runtime
COPY --from=build /out/ /usr/local/bin/
COPY scripts/image-check.sh /usr/local/lib/shop/image-check.sh
RUN sh /usr/local/lib/shop/image-check.sh
USER shop:shop
