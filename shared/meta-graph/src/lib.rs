//! Meta's Graph API, as Gangway uses it for WhatsApp Embedded Signup. Points at
//! `https://graph.facebook.com` in production and at the meta sandbox locally.

pub mod app;
mod error;
pub mod inbound;
pub mod model;
pub mod settings;

pub use error::{FailureCode, GraphError, GraphErrorBody};

use gangway_retry::Schedule;
use model::{AccessToken, DebugToken, PhoneNumber, PhoneNumbers, Success, Waba};
use serde::de::DeserializeOwned;
use std::fmt;
use std::time::Duration;

/// Phone numbers asked for per page of a WABA's `phone_numbers` edge.
const PAGE_SIZE: &str = "100";
/// Pages read at most from one edge: 5,000 numbers, far past what one WABA usually holds (the
/// load tests put over 2,000 in one). It bounds how long a signup can spend looking for its number.
pub const MAX_PAGES: u32 = 50;
/// Fields read from a phone number (reference §2).
pub const PHONE_FIELDS: &str =
    "id,display_phone_number,verified_name,code_verification_status,quality_rating,\
platform_type,name_status,status,account_mode,is_on_biz_app,messaging_limit_tier,health_status";
/// Fields read from a WhatsApp Business Account.
pub const WABA_FIELDS: &str =
    "id,name,currency,timezone_id,message_template_namespace,account_review_status,\
business_verification_status,health_status,owner_business_info";

#[derive(Clone)]
pub struct GraphConfig {
    /// `https://graph.facebook.com`, or the sandbox's address.
    pub base_url: String,
    /// e.g. `v25.0`.
    pub api_version: String,
    pub app_id: String,
    pub app_secret: String,
    pub timeout: Duration,
    /// How long to keep retrying rate limits and transient errors.
    pub max_retry: Duration,
}

impl fmt::Debug for GraphConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GraphConfig")
            .field("base_url", &self.base_url)
            .field("api_version", &self.api_version)
            .field("app_id", &self.app_id)
            .field("app_secret", &"<redacted>")
            .finish()
    }
}

/// A Meta access token; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(pub String);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

#[derive(Clone, Debug)]
pub struct GraphClient {
    http: reqwest::Client,
    config: GraphConfig,
}

impl GraphClient {
    pub fn config(&self) -> &GraphConfig {
        &self.config
    }

    pub fn new(config: GraphConfig) -> Result<Self, GraphError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(|e| GraphError::Transport(e.without_url().to_string()))?;
        Ok(Self { http, config })
    }

    /// The longest a call made once (never retried) can take.
    pub fn longest_single_call(&self) -> Duration {
        self.config.timeout
    }

    /// The longest a call the client retries can take: retries start for up to `max_retry`, and
    /// the last one may run for the whole `timeout`.
    pub fn longest_retried_call(&self) -> Duration {
        self.config.max_retry + self.config.timeout
    }

    fn url(&self, path: &str) -> String {
        format!(
            "{}/{}/{}",
            self.config.base_url.trim_end_matches('/'),
            self.config.api_version,
            path.trim_start_matches('/')
        )
    }

    /// Sends a request (built afresh for each attempt), retrying only what is worth retrying.
    async fn call<T: DeserializeOwned>(
        &self,
        what: &'static str,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<T, GraphError> {
        // 200 ms apart at first, 1.5 times longer each time, for at most `max_retry`.
        let schedule = Schedule::exponential(Duration::from_millis(200), 1.5, Duration::from_secs(60))
            .with_jitter(0.5)
            .with_max_elapsed(self.config.max_retry);
        schedule
            .retry(
                || send::<T>(build()),
                |e: &GraphError| {
                    let retryable = e.is_retryable();
                    if retryable {
                        tracing::warn!(call = what, error = %e, "Meta call failed; retrying");
                    }
                    retryable
                },
            )
            .await
    }

    /// Exchanges the code from Embedded Signup for a business integration token. The popup flow
    /// sends no `redirect_uri`; the full-page dialog fallback must send the one it used.
    #[tracing::instrument(skip_all)]
    pub async fn exchange_code(&self, code: &str, redirect_uri: Option<&str>) -> Result<Token, GraphError> {
        let mut query = vec![
            ("client_id", self.config.app_id.clone()),
            ("client_secret", self.config.app_secret.clone()),
            ("code", code.to_owned()),
        ];
        if let Some(uri) = redirect_uri {
            query.push(("redirect_uri", uri.to_owned()));
        }
        // A code works once: never retry the exchange, a second try would only burn it.
        let token: AccessToken = send(self.http.get(self.url("oauth/access_token")).query(&query)).await?;
        Ok(Token(token.access_token))
    }

    /// What Meta knows of a token: validity, app, scopes and the WABAs it was granted.
    #[tracing::instrument(skip_all)]
    pub async fn debug_token(&self, token: &Token) -> Result<DebugToken, GraphError> {
        let app_token = format!("{}|{}", self.config.app_id, self.config.app_secret);
        self.call("debug_token", || {
            self.http.get(self.url("debug_token")).query(&[
                ("input_token", token.0.as_str()),
                ("access_token", app_token.as_str()),
            ])
        })
        .await
    }

    #[tracing::instrument(skip(self, token))]
    pub async fn waba(&self, token: &Token, waba_id: &str) -> Result<Waba, GraphError> {
        self.call("waba", || {
            self.http
                .get(self.url(waba_id))
                .bearer_auth(&token.0)
                .query(&[("fields", WABA_FIELDS)])
        })
        .await
    }

    /// Every phone number of a WABA, page after page.
    pub async fn phone_numbers(&self, token: &Token, waba_id: &str) -> Result<Vec<PhoneNumber>, GraphError> {
        let mut all = Vec::new();
        self.find_phone_number(token, waba_id, |number| {
            all.push(number.clone());
            false
        })
        .await?;
        Ok(all)
    }

    /// The first phone number of a WABA that `wanted` picks, reading pages only until it is found.
    #[tracing::instrument(skip(self, token, wanted))]
    pub async fn find_phone_number(
        &self,
        token: &Token,
        waba_id: &str,
        mut wanted: impl FnMut(&PhoneNumber) -> bool,
    ) -> Result<Option<PhoneNumber>, GraphError> {
        let mut after: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page: PhoneNumbers = self
                .call("phone_numbers", || {
                    let mut query = vec![("fields", PHONE_FIELDS), ("limit", PAGE_SIZE)];
                    if let Some(after) = &after {
                        query.push(("after", after));
                    }
                    self.http
                        .get(self.url(&format!("{waba_id}/phone_numbers")))
                        .bearer_auth(&token.0)
                        .query(&query)
                })
                .await?;
            let next = page.next_cursor().map(str::to_owned);
            if let Some(found) = page.data.into_iter().find(|n| wanted(n)) {
                return Ok(Some(found));
            }
            match next {
                Some(cursor) => after = Some(cursor),
                None => return Ok(None),
            }
        }
        Ok(None)
    }

    #[tracing::instrument(skip(self, token))]
    pub async fn phone_number(
        &self,
        token: &Token,
        phone_number_id: &str,
    ) -> Result<PhoneNumber, GraphError> {
        self.call("phone_number", || {
            self.http
                .get(self.url(phone_number_id))
                .bearer_auth(&token.0)
                .query(&[("fields", PHONE_FIELDS)])
        })
        .await
    }

    /// Subscribes our app to the customer's WABA so its webhooks reach us.
    #[tracing::instrument(skip(self, token))]
    pub async fn subscribe_app(&self, token: &Token, waba_id: &str) -> Result<(), GraphError> {
        let _: Success = self
            .call("subscribed_apps", || {
                self.http
                    .post(self.url(&format!("{waba_id}/subscribed_apps")))
                    .bearer_auth(&token.0)
            })
            .await?;
        Ok(())
    }

    /// Registers a dedicated (Cloud API) number with its two-step PIN. Meta allows 10 register
    /// calls per number per 72 hours, so this is not retried on throttling either.
    #[tracing::instrument(skip(self, token, pin))]
    pub async fn register_phone(
        &self,
        token: &Token,
        phone_number_id: &str,
        pin: &str,
    ) -> Result<(), GraphError> {
        let body = serde_json::json!({ "messaging_product": "whatsapp", "pin": pin });
        let _: Success = send(
            self.http
                .post(self.url(&format!("{phone_number_id}/register")))
                .bearer_auth(&token.0)
                .json(&body),
        )
        .await?;
        Ok(())
    }
}

impl GraphClient {
    /// Asks Meta to sync a coexistence number's Business-app data (`smb_app_state_sync`, then
    /// `history`). Each type works once per number and within 24 hours of onboarding, so this is
    /// not retried. Returns Meta's request id (support needs it).
    #[tracing::instrument(skip(self, token))]
    pub async fn sync_smb_app_data(
        &self,
        token: &Token,
        phone_number_id: &str,
        sync_type: &str,
    ) -> Result<String, GraphError> {
        #[derive(serde::Deserialize)]
        struct Accepted {
            request_id: String,
        }
        let body = serde_json::json!({ "messaging_product": "whatsapp", "sync_type": sync_type });
        let accepted: Accepted = send(
            self.http
                .post(self.url(&format!("{phone_number_id}/smb_app_data")))
                .bearer_auth(&token.0)
                .json(&body),
        )
        .await?;
        Ok(accepted.request_id)
    }
}

async fn send<T: DeserializeOwned>(request: reqwest::RequestBuilder) -> Result<T, GraphError> {
    let response = request
        .send()
        .await
        .map_err(|e| GraphError::Transport(e.without_url().to_string()))?;
    let status = response.status().as_u16();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| GraphError::Transport(e.without_url().to_string()))?;
    if (200..300).contains(&status) {
        return serde_json::from_slice(&bytes)
            .map_err(|e| GraphError::Transport(format!("unexpected answer: {e}")));
    }
    #[derive(serde::Deserialize)]
    struct Envelope {
        error: GraphErrorBody,
    }
    match serde_json::from_slice::<Envelope>(&bytes) {
        Ok(envelope) => Err(GraphError::Api {
            status,
            body: envelope.error,
        }),
        Err(_) => Err(GraphError::Transport(format!(
            "HTTP {status} without a Graph error object"
        ))),
    }
}
