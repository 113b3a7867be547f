//! The meta sandbox's browser side over real HTTP: the SDK and dialog it serves, and the control
//! routes the dialog drives (full-page codes, invalid tokens, new numbers, number states).

use gangway_e2e::dispatch::Receiver;
use gangway_e2e::{wait_until, TestSandbox};
use gangway_meta_graph::{FailureCode, GraphClient, GraphConfig, GraphError, Token};
use serde_json::{json, Value};
use std::time::Duration;

const WABA: &str = "524126980791429";
const BUSINESS: &str = "2729063490586005";
const PHONE: &str = "106540352242922";
const RETURN_URL: &str = "http://127.0.0.1:8080/signup/abc/return";

fn graph(sandbox: &TestSandbox) -> GraphClient {
    GraphClient::new(GraphConfig {
        base_url: sandbox.base_url.clone(),
        api_version: "v25.0".into(),
        app_id: sandbox.config.app_id.clone(),
        app_secret: sandbox.config.app_secret.clone(),
        timeout: Duration::from_secs(5),
        max_retry: Duration::from_secs(1),
    })
    .unwrap()
}

async fn mint(sandbox: &TestSandbox, body: Value) -> String {
    let (status, body) = sandbox.post("/sandbox/codes", body).await;
    assert_eq!(status, 201, "{body}");
    body["code"].as_str().unwrap().to_owned()
}

async fn token(sandbox: &TestSandbox) -> Token {
    let code = mint(sandbox, json!({"waba_id": WABA})).await;
    graph(sandbox).exchange_code(&code, None).await.unwrap()
}

async fn set_state(sandbox: &TestSandbox, phone: &str, state: Value) -> Value {
    let (status, body) = sandbox
        .post(&format!("/sandbox/phones/{phone}/state"), state)
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

fn codes(error: &GraphError) -> (Option<i64>, Option<i64>) {
    (error.code(), error.subcode())
}

fn assert_meta_error(body: &Value, code: i64) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert_eq!(body["error"]["type"], "OAuthException");
    assert!(body["error"]["message"].is_string());
    assert!(body["error"]["fbtrace_id"].is_string());
}

async fn get(sandbox: &TestSandbox, path: &str) -> (u16, String, String) {
    let response = sandbox.http.get(sandbox.url(path)).send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (status, content_type, response.text().await.unwrap())
}

fn dialog_path(sandbox: &TestSandbox, query: &str) -> String {
    format!(
        "/v25.0/dialog/oauth?client_id={}&config_id=42&response_type=code{query}",
        sandbox.config.app_id
    )
}

#[tokio::test]
async fn a_full_page_code_is_exchanged_only_with_its_own_redirect_uri() {
    let sandbox = TestSandbox::spawn().await;
    let graph = graph(&sandbox);
    let bound = json!({"waba_id": WABA, "redirect_uri": RETURN_URL});

    let code = mint(&sandbox, bound.clone()).await;
    let missing = graph.exchange_code(&code, None).await.unwrap_err();
    assert_eq!(codes(&missing), (Some(100), Some(36008)));
    assert_eq!(missing.failure_code(), FailureCode::TokenExchangeFailed);

    let code = mint(&sandbox, bound.clone()).await;
    let other = graph
        .exchange_code(&code, Some("http://127.0.0.1:8080/signup/abc/return/"))
        .await
        .unwrap_err();
    assert_eq!(codes(&other), (Some(100), Some(36008)), "identical, not similar");

    let code = mint(&sandbox, bound).await;
    let token = graph.exchange_code(&code, Some(RETURN_URL)).await.unwrap();
    let info = graph.debug_token(&token).await.unwrap().data;
    assert_eq!(info.granted_wabas(), vec![WABA]);

    let popup_code = mint(&sandbox, json!({"waba_id": WABA})).await;
    let refused = graph
        .exchange_code(&popup_code, Some(RETURN_URL))
        .await
        .unwrap_err();
    assert_eq!(codes(&refused), (Some(100), Some(36008)));
}

#[tokio::test]
async fn a_code_minted_with_an_invalid_token_gives_a_token_that_debugs_invalid_and_gets_190() {
    let sandbox = TestSandbox::spawn().await;
    let graph = graph(&sandbox);
    let code = mint(&sandbox, json!({"waba_id": WABA, "token_valid": false})).await;
    let token = graph.exchange_code(&code, None).await.unwrap();

    let info = graph.debug_token(&token).await.unwrap().data;
    assert!(!info.is_valid);
    assert!(!info.is_usable_by(&sandbox.config.app_id));
    let error = graph.waba(&token, WABA).await.unwrap_err();
    assert_eq!(error.code(), Some(190));
    assert_eq!(error.failure_code(), FailureCode::FacebookAuthFailed);
}

#[tokio::test]
async fn a_new_number_is_created_in_the_requested_country_under_the_waba() {
    let sandbox = TestSandbox::spawn().await;
    let (status, created) = sandbox
        .post("/sandbox/phones", json!({"waba_id": WABA, "country": "gb"}))
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.len() >= 15 && id.bytes().all(|b| b.is_ascii_digit()), "{id}");
    let display = created["display_phone_number"].as_str().unwrap();
    assert!(display.starts_with("+44 "), "{display}");
    assert_eq!(created["waba_id"], WABA);
    assert_eq!(created["is_on_biz_app"], false);

    let (_, us) = sandbox
        .post("/sandbox/phones", json!({"waba_id": WABA, "country": "US"}))
        .await;
    assert!(us["display_phone_number"].as_str().unwrap().starts_with("+1 "));

    let token = token(&sandbox).await;
    let phones = graph(&sandbox).phone_numbers(&token, WABA).await.unwrap();
    assert_eq!(phones.len(), 5, "three seeded numbers and two new ones");
    let phone = graph(&sandbox).phone_number(&token, &id).await.unwrap();
    assert_eq!(phone.display_phone_number.as_deref(), Some(display));
    assert_eq!(phone.code_verification_status.as_deref(), Some("VERIFIED"));
}

#[tokio::test]
async fn new_numbers_need_a_known_waba_and_country_and_errors_are_meta_errors() {
    let sandbox = TestSandbox::spawn().await;
    let (status, body) = sandbox
        .post("/sandbox/phones", json!({"waba_id": "1", "country": "BR"}))
        .await;
    assert_eq!(status, 400);
    assert_meta_error(&body, 100);

    let (status, body) = sandbox
        .post("/sandbox/phones", json!({"waba_id": WABA, "country": "XX"}))
        .await;
    assert_eq!(status, 400);
    assert_meta_error(&body, 100);

    let (status, body) = sandbox
        .post("/sandbox/phones/999/state", json!({"verified": false}))
        .await;
    assert_eq!(status, 400);
    assert_meta_error(&body, 100);

    let (status, body) = sandbox.post("/sandbox/phones", json!({"country": "BR"})).await;
    assert_eq!(status, 400, "a malformed body");
    assert_meta_error(&body, 100);
}

#[tokio::test]
async fn an_unverified_number_reads_not_verified_and_register_answers_133006() {
    let sandbox = TestSandbox::spawn().await;
    let graph = graph(&sandbox);
    let token = token(&sandbox).await;
    let state = set_state(&sandbox, PHONE, json!({"verified": false})).await;
    assert_eq!(state["verified"], false);

    let phone = graph.phone_number(&token, PHONE).await.unwrap();
    assert_eq!(phone.code_verification_status.as_deref(), Some("NOT_VERIFIED"));
    let error = graph.register_phone(&token, PHONE, "123456").await.unwrap_err();
    assert_eq!(error.code(), Some(133006));
    assert_eq!(error.failure_code(), FailureCode::PhoneVerificationFailed);

    set_state(&sandbox, PHONE, json!({"verified": true})).await;
    graph.register_phone(&token, PHONE, "123456").await.unwrap();
}

#[tokio::test]
async fn a_number_registered_elsewhere_refuses_another_pin_with_133005() {
    let sandbox = TestSandbox::spawn().await;
    let graph = graph(&sandbox);
    let token = token(&sandbox).await;
    set_state(&sandbox, PHONE, json!({"registered_elsewhere": true})).await;

    let phone: Value = sandbox
        .http
        .get(sandbox.url(&format!("/v25.0/{PHONE}")))
        .bearer_auth(&token.0)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(phone["is_pin_enabled"], true, "{phone}");
    let error = graph.register_phone(&token, PHONE, "123456").await.unwrap_err();
    assert_eq!(error.code(), Some(133005));
    assert_eq!(error.failure_code(), FailureCode::PhoneVerificationFailed);

    set_state(&sandbox, PHONE, json!({"registered_elsewhere": false})).await;
    graph.register_phone(&token, PHONE, "123456").await.unwrap();
}

#[tokio::test]
async fn the_sdk_is_served_as_javascript() {
    let sandbox = TestSandbox::spawn().await;
    let (status, content_type, body) = get(&sandbox, "/en_US/sdk.js").await;
    assert_eq!(status, 200);
    assert!(
        content_type.starts_with("application/javascript"),
        "{content_type}"
    );
    for needle in [
        "fbAsyncInit",
        "window.FB",
        "document.currentScript",
        "/dialog/oauth",
        "SANDBOX_FB_LOGIN",
        "popup.closed",
    ] {
        assert!(body.contains(needle), "sdk.js lacks {needle}");
    }
}

#[tokio::test]
async fn the_dialog_is_served_as_html_with_its_stable_element_ids() {
    let sandbox = TestSandbox::spawn().await;
    let extras = "%7B%22setup%22%3A%7B%7D%2C%22sessionInfoVersion%22%3A%223%22%7D";
    let path = dialog_path(&sandbox, &format!("&display=popup&extras={extras}"));
    let (status, content_type, body) = get(&sandbox, &path).await;
    assert_eq!(status, 200, "{body}");
    assert!(content_type.starts_with("text/html"), "{content_type}");
    for id in [
        "business",
        "waba",
        "phone",
        "new-phone-country",
        "verification-code",
        "scenario",
        "callback-first",
        "finish",
        "cancel",
    ] {
        assert!(body.contains(&format!("id=\"{id}\"")), "dialog lacks #{id}");
    }
    for scenario in [
        "finish",
        "finish_only_waba",
        "coexistence",
        "cancel",
        "user_reported_error",
        "error",
        "waba_limit_reached",
        "phone_verification_failed",
        "phone_registered_elsewhere",
        "expired_code",
        "invalid_token",
        "rate_limited",
        "close_without_auth_response",
    ] {
        assert!(
            body.contains(&format!("<option value=\"{scenario}\">")),
            "dialog lacks scenario {scenario}"
        );
    }
    assert!(body.contains("value=\"123456\""));
    assert!(body.contains("WA_EMBEDDED_SIGNUP") && body.contains("SANDBOX_FB_LOGIN"));
    assert!(!body.contains("/* dialog.js */"), "the script is inlined");

    let full_page = dialog_path(&sandbox, &format!("&redirect_uri={RETURN_URL}&state=s1"));
    let (status, _, body) = get(&sandbox, &full_page).await;
    assert_eq!(status, 200);
    assert!(body.contains("id=\"finish\""));
}

#[tokio::test]
async fn the_dialog_refuses_a_wrong_client_id_and_an_unusable_redirect_uri() {
    let sandbox = TestSandbox::spawn().await;
    for path in [
        "/v25.0/dialog/oauth?display=popup&client_id=999".to_owned(),
        "/v25.0/dialog/oauth?display=popup".to_owned(),
        dialog_path(&sandbox, "&state=s1"),
        dialog_path(&sandbox, "&redirect_uri=javascript:alert(1)&state=s1"),
        dialog_path(&sandbox, &format!("&redirect_uri={RETURN_URL}")),
        format!(
            "/latest/dialog/oauth?display=popup&client_id={}",
            sandbox.config.app_id
        ),
    ] {
        let (status, content_type, body) = get(&sandbox, &path).await;
        assert_eq!(status, 400, "{path}");
        assert!(content_type.starts_with("text/html"), "{path}");
        assert!(
            body.contains("id=\"error\"") && !body.contains("id=\"finish\""),
            "{path}"
        );
    }
}

#[tokio::test]
async fn graph_paths_beside_the_dialog_still_answer_as_graph() {
    let sandbox = TestSandbox::spawn().await;
    let (status, _, body) = get(&sandbox, "/v25.0/dialog/other").await;
    assert_eq!(status, 400);
    assert_meta_error(&serde_json::from_str(&body).unwrap(), 190);
    let (_, _, body) = get(&sandbox, "/v1/dialog/other").await;
    assert_meta_error(&serde_json::from_str(&body).unwrap(), 2635);
    let (status, _, body) = get(&sandbox, "/v25.0/a/b/c").await;
    assert_eq!(status, 400);
    assert_meta_error(&serde_json::from_str(&body).unwrap(), 2500);

    let code = mint(&sandbox, json!({"waba_id": WABA, "phone_number_id": PHONE})).await;
    let token = graph(&sandbox).exchange_code(&code, None).await.unwrap();
    let waba = graph(&sandbox).waba(&token, WABA).await.unwrap();
    assert_eq!(waba.owner_business_info.unwrap().id, BUSINESS);
}

#[tokio::test]
async fn coexistence_sync_works_once_per_type_and_only_for_business_app_numbers() {
    let sandbox = TestSandbox::spawn().await;
    let graph = graph(&sandbox);
    let token = token(&sandbox).await;
    let app_phone = "106540352242924";
    let contacts = graph
        .sync_smb_app_data(&token, app_phone, "smb_app_state_sync")
        .await
        .unwrap();
    let history = graph
        .sync_smb_app_data(&token, app_phone, "history")
        .await
        .unwrap();
    assert!(!contacts.is_empty() && contacts != history);
    let again = graph
        .sync_smb_app_data(&token, app_phone, "history")
        .await
        .unwrap_err();
    assert_eq!(codes(&again), (Some(2593107), None));
    let dedicated = graph
        .sync_smb_app_data(&token, PHONE, "history")
        .await
        .unwrap_err();
    assert_eq!(codes(&dedicated).0, Some(100));
}

#[tokio::test]
async fn a_webhook_that_gets_no_200_is_sent_again_the_same_until_one_comes() {
    let receiver = Receiver::start_with(vec![500, 503], Duration::ZERO).await;
    let mut config = TestSandbox::config();
    config.webhook_retry_ms = 50;
    let sandbox = TestSandbox::spawn_with(config).await;
    let (status, answer) = sandbox
        .post(
            "/sandbox/webhooks",
            json!({
                "kind": "quality_update",
                "phone_number_id": PHONE,
                "event": "FLAGGED",
                "callback_url": receiver.url("/meta"),
            }),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        (answer["status"].as_u64(), answer["redelivering"].as_bool()),
        (Some(500), Some(true))
    );

    wait_until("the redeliveries", Duration::from_secs(10), || async {
        receiver.received_at("/meta").len() >= 3
    })
    .await;
    // Stopped at the 200: nothing more comes.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = receiver.received_at("/meta");
    assert_eq!(sent.len(), 3);
    for again in &sent[1..] {
        assert_eq!(again.body, sent[0].body, "the same notification");
        assert_eq!(
            again.header("x-hub-signature-256"),
            sent[0].header("x-hub-signature-256")
        );
    }
    assert_eq!(sent[0].json(), answer["notification"]);

    // A 200 the first time: sent once.
    let (_, answer) = sandbox
        .post(
            "/sandbox/webhooks",
            json!({
                "kind": "quality_update",
                "phone_number_id": PHONE,
                "event": "UNFLAGGED",
                "callback_url": receiver.url("/fine"),
            }),
        )
        .await;
    assert_eq!(
        (answer["status"].as_u64(), answer["redelivering"].as_bool()),
        (Some(200), Some(false))
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received_at("/fine").len(), 1);
}

#[tokio::test]
async fn a_wabas_numbers_come_in_pages_and_the_client_reads_them_all() {
    let sandbox = TestSandbox::spawn().await;
    for _ in 0..27 {
        let (status, _) = sandbox
            .post("/sandbox/phones", json!({"waba_id": WABA, "country": "US"}))
            .await;
        assert_eq!(status, 201);
    }
    let token = token(&sandbox).await;
    let page = |query: String| {
        let request = sandbox
            .http
            .get(sandbox.url(&format!("/v25.0/{WABA}/phone_numbers{query}")))
            .bearer_auth(&token.0);
        async move {
            let response = request.send().await.unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        }
    };

    // 3 seeded and 27 new numbers: Graph's default page of 25, then the rest.
    let (_, first) = page(String::new()).await;
    assert_eq!(first["data"].as_array().unwrap().len(), 25);
    assert!(first["paging"]["next"].is_string(), "{first}");
    let after = first["paging"]["cursors"]["after"].as_str().unwrap().to_owned();
    let (_, rest) = page(format!("?after={after}")).await;
    assert_eq!(rest["data"].as_array().unwrap().len(), 5);
    assert!(rest["paging"].get("next").is_none(), "the last page: {rest}");
    let (_, small) = page("?limit=10".into()).await;
    assert_eq!(small["data"].as_array().unwrap().len(), 10);
    let (status, body) = page("?after=not-a-cursor".into()).await;
    assert_eq!(status, 400);
    assert_meta_error(&body, 100);

    let all = graph(&sandbox).phone_numbers(&token, WABA).await.unwrap();
    assert_eq!(all.len(), 30);
    let last = all.last().unwrap().id.clone();
    let found = graph(&sandbox)
        .find_phone_number(&token, WABA, |n| n.id == last)
        .await
        .unwrap();
    assert_eq!(found.map(|n| n.id), Some(last));
}
