//! HTTP requests served: a count and a latency histogram by method, matched route template and
//! status class.

use axum::extract::{MatchedPath, Request};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use metrics::Label;
use std::time::Instant;

pub const REQUESTS: &str = "gangway_http_requests_total";
pub const DURATION: &str = "gangway_http_request_duration_seconds";

/// The `route` of a request no route matched (404s for unknown paths).
pub const UNMATCHED: &str = "unmatched";

pub(crate) fn describe() {
    metrics::describe_counter!(
        REQUESTS,
        "HTTP requests answered, by method, route template and status class."
    );
    metrics::describe_histogram!(
        DURATION,
        metrics::Unit::Seconds,
        "Time from a request's arrival to its response head, by method, route template and status class."
    );
}

/// Middleware (`axum::middleware::from_fn(track)`, added with `Router::layer` so it runs after
/// routing) that records every request under its route template, `/v1/onboarding-links/{id}`,
/// never the raw path with its ids.
pub async fn track(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED.to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    let labels = [
        Label::new("method", method),
        Label::new("route", route),
        Label::new("status", status_class(response.status())),
    ];
    metrics::counter!(REQUESTS, labels.iter()).increment(1);
    metrics::histogram!(DURATION, labels.iter()).record(started.elapsed().as_secs_f64());
    response
}

/// The standard methods by name; anything else (a client can send any token) as `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_labelled_by_class() {
        assert_eq!(status_class(StatusCode::CREATED), "2xx");
        assert_eq!(status_class(StatusCode::SEE_OTHER), "3xx");
        assert_eq!(status_class(StatusCode::UNPROCESSABLE_ENTITY), "4xx");
        assert_eq!(status_class(StatusCode::SERVICE_UNAVAILABLE), "5xx");
    }

    #[test]
    fn unusual_methods_share_one_label() {
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        let custom = Method::from_bytes(b"PURGE").unwrap();
        assert_eq!(method_label(&custom), "other");
    }
}
