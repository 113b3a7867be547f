//! Serving `/metrics`: a route any router can merge, and a listener of its own for the processes
//! that have no HTTP server.

use crate::MetricsConfig;
use anyhow::Context;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use std::net::SocketAddr;
use std::sync::Arc;
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The text exposition format's content type.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Clone)]
struct Exporter {
    handle: PrometheusHandle,
    /// Required as `Authorization: Bearer …` when set.
    token: Option<Arc<str>>,
}

/// `GET /metrics` rendering `handle`, behind the bearer token when `config` sets one. It carries
/// its own state, so it merges into a router of any state type.
pub fn router<S: Clone + Send + Sync + 'static>(
    handle: PrometheusHandle,
    config: &MetricsConfig,
) -> Router<S> {
    let exporter = Exporter {
        handle,
        token: config.token().map(Arc::from),
    };
    Router::new().route("/metrics", get(render).with_state(exporter))
}

async fn render(State(exporter): State<Exporter>, headers: HeaderMap) -> Response {
    if let Some(token) = &exporter.token {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !bool::from(presented.as_bytes().ct_eq(token.as_bytes())) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "a bearer token is required\n",
            )
                .into_response();
        }
    }
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], exporter.handle.render()).into_response()
}

/// A listener serving only `/metrics`, for the projector and the dispatcher.
pub struct MetricsServer {
    listener: TcpListener,
    app: Router,
}

impl MetricsServer {
    /// Installs `process`'s recorder and binds `addr` (port 0 picks a free port; see
    /// [`MetricsServer::local_addr`]).
    pub async fn bind(
        addr: SocketAddr,
        process: &'static str,
        config: &MetricsConfig,
    ) -> anyhow::Result<Self> {
        let handle = crate::install(process);
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} for /metrics (GANGWAY_METRICS_ADDR)"))?;
        Ok(Self {
            listener,
            app: router(handle, config),
        })
    }

    /// Serves `routes` (e.g. `/readyz`) beside `/metrics`.
    pub fn merge(mut self, routes: Router) -> Self {
        self.app = self.app.merge(routes);
        self
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `cancel` fires.
    pub fn spawn(self, cancel: CancellationToken) -> JoinHandle<()> {
        tracing::info!(addr = %self.local_addr(), "serving /metrics");
        tokio::spawn(async move {
            let served = axum::serve(self.listener, self.app)
                .with_graceful_shutdown(async move { cancel.cancelled().await })
                .await;
            if let Err(error) = served {
                tracing::warn!(%error, "the /metrics listener stopped");
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    fn config(token: &str) -> MetricsConfig {
        MetricsConfig {
            metrics_token: token.parse().unwrap(),
            metrics_refresh_ms: 1_000,
        }
    }

    async fn get(app: Router, authorization: Option<&str>) -> (StatusCode, String, String) {
        let mut request = Request::get("/metrics");
        if let Some(value) = authorization {
            request = request.header(header::AUTHORIZATION, value);
        }
        let response = app.oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, content_type, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn renders_the_exposition_format_with_help_text() {
        let handle = crate::install("test");
        let (status, content_type, body) = get(router(handle, &config("")), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type, CONTENT_TYPE);
        assert!(body.contains("# HELP gangway_process_info "), "{body}");
        assert!(body.contains("# TYPE gangway_process_info gauge"), "{body}");
        assert!(body.contains("gangway_process_info{process=\"test\""), "{body}");
    }

    #[tokio::test]
    async fn a_configured_token_is_required() {
        let app = || router(crate::install("test"), &config("scrape-secret"));
        assert_eq!(get(app(), None).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(get(app(), Some("Bearer wrong")).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(get(app(), Some("Bearer scrape-secret")).await.0, StatusCode::OK);
    }
}
