//! The Graph API client against the meta sandbox over real HTTP: Meta's rules for codes, tokens,
//! reads and registration, and the failures it can be told to produce.

use gangway_meta_graph::{FailureCode, GraphClient, GraphConfig, GraphError, Token};
use gangway_meta_sandbox::{SandboxConfig, SandboxServer};
use serde_json::{json, Value};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const WABA: &str = "524126980791429";
const PHONE: &str = "106540352242922";
const APP_PHONE: &str = "106540352242924";
const OTHER_WABA: &str = "524126980791430";

struct Meta {
    base: String,
    http: reqwest::Client,
    graph: GraphClient,
    _stop: tokio_util::sync::DropGuard,
}

impl Meta {
    async fn start() -> Self {
        let mut config: SandboxConfig = gangway_config::from_env().unwrap();
        config.addr = "127.0.0.1:0".parse().unwrap();
        let server = SandboxServer::build(config.clone()).await.unwrap();
        let base = format!("http://127.0.0.1:{}", server.port());
        let cancel = CancellationToken::new();
        tokio::spawn(server.run(cancel.clone()));
        let graph = GraphClient::new(GraphConfig {
            base_url: base.clone(),
            api_version: "v25.0".into(),
            app_id: config.app_id,
            app_secret: config.app_secret,
            timeout: Duration::from_secs(5),
            max_retry: Duration::from_secs(5),
        })
        .unwrap();
        Self {
            base,
            http: reqwest::Client::new(),
            graph,
            _stop: cancel.drop_guard(),
        }
    }

    async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// What the signup popup does when a person picks a WABA and phone.
    async fn code(&self, waba: &str, phone: Option<&str>) -> String {
        let response = self
            .post(
                "/sandbox/codes",
                json!({"waba_id": waba, "phone_number_id": phone}),
            )
            .await;
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        body["code"].as_str().unwrap().to_owned()
    }

    async fn token(&self) -> Token {
        let code = self.code(WABA, Some(PHONE)).await;
        self.graph.exchange_code(&code, None).await.unwrap()
    }

    async fn fault(&self, path: &str, code: i64, times: u32) {
        let response = self
            .post(
                "/sandbox/faults",
                json!({"path_contains": path, "code": code, "times": times}),
            )
            .await;
        assert_eq!(response.status(), 204);
    }
}

fn meta_code(error: &GraphError) -> (Option<i64>, Option<i64>) {
    (error.code(), error.subcode())
}

#[tokio::test]
async fn a_code_is_exchanged_once_for_a_token_scoped_to_the_chosen_waba() {
    let meta = Meta::start().await;
    let code = meta.code(WABA, Some(PHONE)).await;
    let token = meta.graph.exchange_code(&code, None).await.unwrap();
    assert!(token.0.starts_with("EAA"));
    assert!(!format!("{token:?}").contains(&token.0), "tokens never print");

    let reused = meta.graph.exchange_code(&code, None).await.unwrap_err();
    assert_eq!(meta_code(&reused), (Some(100), Some(36009)));
    assert_eq!(reused.failure_code(), FailureCode::TokenExchangeFailed);

    let info = meta.graph.debug_token(&token).await.unwrap().data;
    assert!(info.is_usable_by("1234567890"));
    assert_eq!(info.granted_wabas(), vec![WABA]);
    assert_eq!(info.kind.as_deref(), Some("SYSTEM_USER"));
}

#[tokio::test]
async fn a_popup_code_with_a_redirect_uri_or_past_its_lifetime_fails_and_is_burnt() {
    let meta = Meta::start().await;
    let code = meta.code(WABA, None).await;
    let error = meta
        .graph
        .exchange_code(&code, Some("https://example.com/cb"))
        .await
        .unwrap_err();
    assert_eq!(meta_code(&error), (Some(100), Some(36008)));
    let burnt = meta.graph.exchange_code(&code, None).await.unwrap_err();
    assert_eq!(
        meta_code(&burnt),
        (Some(100), Some(36009)),
        "a failed exchange still burns the code"
    );

    let code = meta.code(WABA, None).await;
    let expired = meta
        .post(&format!("/sandbox/codes/{code}/expire"), json!({}))
        .await;
    assert_eq!(expired.status(), 204);
    let error = meta.graph.exchange_code(&code, None).await.unwrap_err();
    assert_eq!(meta_code(&error), (Some(100), Some(36007)));
}

#[tokio::test]
async fn waba_and_phone_reads_follow_the_grant() {
    let meta = Meta::start().await;
    let token = meta.token().await;
    let waba = meta.graph.waba(&token, WABA).await.unwrap();
    assert_eq!(waba.owner_business_info.unwrap().id, "2729063490586005");
    let phones = meta.graph.phone_numbers(&token, WABA).await.unwrap();
    assert_eq!(phones.len(), 3);
    let phone = meta.graph.phone_number(&token, PHONE).await.unwrap();
    assert_eq!(phone.display_phone_number.as_deref(), Some("+1 555-010-0001"));
    assert_eq!(phone.code_verification_status.as_deref(), Some("VERIFIED"));
    assert_eq!(
        meta.graph
            .phone_number(&token, APP_PHONE)
            .await
            .unwrap()
            .is_on_biz_app,
        Some(true)
    );

    let foreign = meta.graph.waba(&token, OTHER_WABA).await.unwrap_err();
    assert_eq!(
        meta_code(&foreign),
        (Some(100), Some(33)),
        "another customer's WABA is invisible"
    );
    let bogus = meta
        .graph
        .waba(&Token("EAAGnot-a-token".into()), WABA)
        .await
        .unwrap_err();
    assert_eq!(bogus.code(), Some(190));
    assert_eq!(bogus.failure_code(), FailureCode::FacebookAuthFailed);
}

#[tokio::test]
async fn an_invalidated_token_debugs_as_invalid_and_stops_working() {
    let meta = Meta::start().await;
    let token = meta.token().await;
    let response = meta
        .post(&format!("/sandbox/tokens/{}/invalidate", token.0), json!({}))
        .await;
    assert_eq!(response.status(), 204);
    let info = meta.graph.debug_token(&token).await.unwrap().data;
    assert!(!info.is_valid && !info.is_usable_by("1234567890"));
    assert_eq!(
        meta.graph.subscribe_app(&token, WABA).await.unwrap_err().code(),
        Some(190)
    );
}

#[tokio::test]
async fn registration_enforces_the_pin_and_ten_calls_per_72_hours() {
    let meta = Meta::start().await;
    let token = meta.token().await;
    meta.graph.subscribe_app(&token, WABA).await.unwrap();
    meta.graph.register_phone(&token, PHONE, "123456").await.unwrap();
    let mismatch = meta
        .graph
        .register_phone(&token, PHONE, "654321")
        .await
        .unwrap_err();
    assert_eq!(mismatch.code(), Some(133005));
    assert_eq!(mismatch.failure_code(), FailureCode::PhoneVerificationFailed);
    for _ in 0..8 {
        meta.graph.register_phone(&token, PHONE, "123456").await.unwrap();
    }
    let limited = meta
        .graph
        .register_phone(&token, PHONE, "123456")
        .await
        .unwrap_err();
    assert_eq!(limited.code(), Some(133016), "the 11th call in 72 hours");
    assert!(!limited.is_retryable());

    let coexistence = meta
        .graph
        .register_phone(&token, APP_PHONE, "123456")
        .await
        .unwrap_err();
    assert_eq!(
        coexistence.code(),
        Some(100),
        "Business app numbers are not registered"
    );
    let bad_pin = meta
        .graph
        .register_phone(&token, PHONE, "12ab")
        .await
        .unwrap_err();
    assert_eq!(bad_pin.code(), Some(100));
}

#[tokio::test]
async fn rate_limits_are_retried_with_backoff_and_other_errors_are_not() {
    let meta = Meta::start().await;
    let token = meta.token().await;
    meta.fault("/phone_numbers", 80007, 2).await;
    let phones = meta.graph.phone_numbers(&token, WABA).await.unwrap();
    assert_eq!(phones.len(), 3, "succeeds on the third try");

    meta.fault("/subscribed_apps", 100, 1).await;
    let error = meta.graph.subscribe_app(&token, WABA).await.unwrap_err();
    assert_eq!(error.code(), Some(100), "a permanent error is returned at once");
    meta.graph.subscribe_app(&token, WABA).await.unwrap();

    meta.fault("/debug_token", 4, 1_000).await;
    let error = meta.graph.debug_token(&token).await.unwrap_err();
    assert_eq!(error.code(), Some(4), "gives up once the retry budget is spent");
}

#[tokio::test]
async fn the_sandbox_speaks_meta_errors_for_bad_versions_and_credentials() {
    let meta = Meta::start().await;
    let response = meta
        .http
        .get(format!("{}/v1/debug_token", meta.base))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "OAuthException");
    assert!(body["error"]["fbtrace_id"].is_string());
    let response = meta
        .http
        .get(format!(
            "{}/v25.0/oauth/access_token?client_id=1234567890&client_secret=wrong&code=x",
            meta.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], 1);
}
