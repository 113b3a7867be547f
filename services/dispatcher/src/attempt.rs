//! One delivery attempt: sign, send to a checked address, classify the answer.

use chrono::{DateTime, SubsecRound, Utc};
use cloudevents::binding::reqwest::RequestBuilderExt;
use cloudevents::{EventBuilder, EventBuilderV10};
use gangway_domain::catalog::EventType;
use gangway_domain::webhook::Endpoint;
use gangway_domain::{EndpointId, MessageId, OrganizationId};
use gangway_webhook_signing::{check_target, pinned_client, sign, Policy, SigningKey};
use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER, USER_AGENT};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// A claimed message, ready to send.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub message_id: MessageId,
    pub organization_id: OrganizationId,
    pub endpoint_id: EndpointId,
    /// The domain event it was made from.
    pub event_id: Uuid,
    pub event_type: EventType,
    pub body: String,
    pub occurred_at: DateTime<Utc>,
    /// Including this one.
    pub attempts: i32,
}

impl Delivery {
    /// The `webhook-id` header: the same for every attempt at this message.
    pub fn webhook_id(&self) -> String {
        format!("msg_{}", self.message_id.as_uuid().simple())
    }
}

#[derive(Debug)]
pub struct AttemptResult {
    pub attempted_at: DateTime<Utc>,
    pub latency: Duration,
    pub status_code: Option<u16>,
    pub response_excerpt: Option<String>,
    pub error: Option<String>,
    /// From `Retry-After` on 429 or 503.
    pub retry_after: Option<Duration>,
}

impl AttemptResult {
    pub fn succeeded(&self) -> bool {
        self.status_code.is_some_and(|s| (200..300).contains(&s))
    }

    pub fn gone(&self) -> bool {
        self.status_code == Some(410)
    }
}

/// Sends deliveries; keeps a checked, address-pinned client per endpoint URL for a short while,
/// so DNS is re-checked regularly without a lookup per request.
pub struct Sender {
    policy: Policy,
    timeout: Duration,
    /// Bytes of an answer's body that are read and kept.
    excerpt_bytes: usize,
    clients: Mutex<HashMap<String, (reqwest::Client, Instant)>>,
}

const CLIENT_TTL: Duration = Duration::from_secs(30);

impl Sender {
    pub fn new(policy: Policy, timeout: Duration, excerpt_bytes: usize) -> Self {
        Self {
            policy,
            timeout,
            excerpt_bytes,
            clients: Mutex::new(HashMap::new()),
        }
    }

    async fn client(&self, url: &url::Url) -> Result<reqwest::Client, String> {
        let key = url.as_str().to_owned();
        if let Some((client, at)) = self.clients.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            if at.elapsed() < CLIENT_TTL {
                return Ok(client.clone());
            }
        }
        let addrs = check_target(url, self.policy).await.map_err(|e| e.to_string())?;
        let client = pinned_client(url, &addrs, self.timeout).map_err(|e| e.to_string())?;
        self.clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, (client.clone(), Instant::now()));
        Ok(client)
    }

    /// One attempt. Never fails: every outcome is an [`AttemptResult`] to record. Its time limit
    /// covers the DNS lookup of a new target and the request up to the answer's headers; the
    /// excerpt is read in what remains of it, and a body that stalls costs only the excerpt.
    pub async fn send(&self, delivery: &Delivery, endpoint: &Endpoint, keys: &[SigningKey]) -> AttemptResult {
        let attempted_at = Utc::now();
        let started = Instant::now();
        let attempt = self.attempt(delivery, endpoint, keys, attempted_at);
        let response = match tokio::time::timeout(self.timeout, attempt).await {
            Ok(Ok(response)) => response,
            Ok(Err(error)) => return failed(attempted_at, started, error),
            Err(_) => {
                return failed(
                    attempted_at,
                    started,
                    format!("no answer within {:?}", self.timeout),
                )
            }
        };
        let status = response.status().as_u16();
        let retry_after = matches!(status, 429 | 503)
            .then(|| response.headers().get(RETRY_AFTER).and_then(parse_retry_after))
            .flatten();
        let remaining = self.timeout.saturating_sub(started.elapsed());
        let excerpt = tokio::time::timeout(remaining, excerpt(response, self.excerpt_bytes))
            .await
            .unwrap_or(None);
        AttemptResult {
            attempted_at,
            latency: started.elapsed(),
            status_code: Some(status),
            response_excerpt: excerpt,
            error: None,
            retry_after,
        }
    }

    async fn attempt(
        &self,
        delivery: &Delivery,
        endpoint: &Endpoint,
        keys: &[SigningKey],
        attempted_at: DateTime<Utc>,
    ) -> Result<reqwest::Response, String> {
        let url =
            url::Url::parse(endpoint.url.as_str()).map_err(|_| "the endpoint URL is not valid".to_owned())?;
        let client = self.client(&url).await?;
        let headers = headers(delivery, keys, attempted_at)?;
        client
            .post(url)
            .headers(headers)
            .event(cloud_event(delivery, endpoint)?)
            .map_err(|error| format!("the CloudEvent could not be written: {error}"))?
            .send()
            .await
            .map_err(|error| match error.is_timeout() {
                true => format!("no answer within {:?}", self.timeout),
                false => format!("request failed: {}", error.without_url()),
            })
    }
}

fn failed(attempted_at: DateTime<Utc>, started: Instant, error: String) -> AttemptResult {
    AttemptResult {
        attempted_at,
        latency: started.elapsed(),
        status_code: None,
        response_excerpt: None,
        error: Some(error),
        retry_after: None,
    }
}

/// The start of an answer's body, at most `limit` bytes: the rest is never read (dropping the
/// response closes the connection), so a receiver streaming a huge body costs us `limit` bytes.
async fn excerpt(mut response: reqwest::Response, limit: usize) -> Option<String> {
    let mut body = Vec::with_capacity(limit.min(16 * 1024));
    while body.len() < limit {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk[..chunk.len().min(limit - body.len())]),
            Ok(None) => break,
            Err(_) if body.is_empty() => return None,
            Err(_) => break,
        }
    }
    Some(storable_text(&body))
}

/// Bytes from a receiver as text Postgres stores: invalid UTF-8 and NUL become U+FFFD.
pub fn storable_text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace('\0', "\u{FFFD}")
}

/// The Standard Webhooks signature headers and our user agent.
fn headers(delivery: &Delivery, keys: &[SigningKey], now: DateTime<Utc>) -> Result<HeaderMap, String> {
    let id = delivery.webhook_id();
    let signed = sign(keys, &id, now.timestamp(), delivery.body.as_bytes()).map_err(|e| e.to_string())?;
    let mut headers = HeaderMap::new();
    for (name, value) in signed.pairs() {
        let value = HeaderValue::from_str(value).map_err(|_| format!("header {name} is not valid"))?;
        headers.insert(name, value);
    }
    headers.insert(USER_AGENT, HeaderValue::from_static("Gangway-Webhooks/1"));
    Ok(headers)
}

/// The delivery as a CloudEvent, written by the SDK's reqwest binding in binary mode: the
/// `ce-*` headers, `Content-Type` from `datacontenttype`, and the body as binary data, so it goes
/// out byte for byte as it was signed.
fn cloud_event(delivery: &Delivery, endpoint: &Endpoint) -> Result<cloudevents::Event, String> {
    EventBuilderV10::new()
        .id(delivery.webhook_id())
        .ty(delivery.event_type.as_str())
        .source(format!("/gangway/organizations/{}", endpoint.organization_id))
        // To the millisecond, as the body's `timestamp`.
        .time(delivery.occurred_at.trunc_subsecs(3))
        .data("application/json", delivery.body.clone().into_bytes())
        .build()
        .map_err(|error| format!("the CloudEvent is not valid: {error}"))
}

/// `Retry-After` in seconds (the HTTP-date form is rare for webhooks and is ignored).
fn parse_retry_after(value: &HeaderValue) -> Option<Duration> {
    let seconds: u64 = value.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(seconds.min(86_400)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receivers_bytes_become_storable_text() {
        assert_eq!(storable_text(b"ok"), "ok");
        assert_eq!(storable_text(b"a\0b"), "a\u{FFFD}b");
        assert_eq!(storable_text(&[b'x', 0xff, 0xfe, b'y']), "x\u{FFFD}\u{FFFD}y");
        assert!(!storable_text(&[0u8; 64]).contains('\0'));
    }
}
