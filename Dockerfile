# One image with every Gangway binary; docker-compose picks the command per service.

# What the dependency layer is built from: Cargo.lock, every manifest, and an empty stand-in for
# each crate root. This stage runs again on any change, but its output only changes with a
# manifest or the lock file, so the layers built from it stay cached while only code changes.
FROM rust:1-bookworm AS plan
WORKDIR /src
COPY . .
RUN mkdir /deps \
 && cp Cargo.lock /deps/ \
 && find . -name Cargo.toml -not -path './target/*' | while read -r manifest; do \
      dir=$(dirname "$manifest"); \
      mkdir -p "/deps/$dir/src"; \
      cp "$manifest" "/deps/$manifest"; \
      if [ -f "$dir/src/lib.rs" ]; then : > "/deps/$dir/src/lib.rs"; fi; \
      if [ -f "$dir/src/main.rs" ]; then echo 'fn main() {}' > "/deps/$dir/src/main.rs"; fi; \
    done

FROM rust:1-bookworm AS build
WORKDIR /src
# The packages with the shipped binaries (not the tests member: its binaries are benchmarks).
ARG PACKAGES="-p gangway-api -p gangway-projector -p gangway-dispatcher -p gangway-cli -p gangway-meta-sandbox"
COPY --from=plan /deps/ ./
RUN cargo build --release --locked --bins $PACKAGES
COPY . .
# COPY keeps the files' modification times, which can be older than the stand-ins just built:
# touch Gangway's own sources so cargo rebuilds its crates instead of keeping the empty ones.
# (shared/event-store's build script, absent from the stand-ins, is built and run here.)
RUN find services shared tests -name '*.rs' -exec touch {} + \
 && cargo build --release --locked --bins $PACKAGES \
 && mkdir /out \
 && cp target/release/gangway target/release/gangway-api target/release/gangway-projector target/release/gangway-dispatcher \
       target/release/gangway-meta-sandbox /out/

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 gangway
COPY --from=build /out/ /usr/local/bin/
USER gangway
# api (and its /metrics); the projector's and the dispatcher's /metrics
EXPOSE 8080 8081 8082
CMD ["gangway-api"]
