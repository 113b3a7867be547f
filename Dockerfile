# One image with every Gangway binary; docker-compose picks the command per service.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --bins \
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
