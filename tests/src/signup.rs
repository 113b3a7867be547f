//! A signup world for tests: the api pointed at its own meta sandbox, an organization, and the
//! steps a browser takes, over HTTP.

use crate::{api_config, TestApi, TestSandbox};
use gangway_testkit::TestEnv;
use serde_json::{json, Value};
use std::collections::HashMap;

/// The sandbox's seeded assets (services/meta-sandbox/src/world.rs).
pub const COFFEE_WABA: &str = "524126980791429";
pub const COFFEE_PHONE: &str = "106540352242922";
pub const COFFEE_APP_PHONE: &str = "106540352242924";
pub const BAKERY_WABA: &str = "524126980791430";

pub struct SignupWorld {
    pub env: TestEnv,
    pub sandbox: TestSandbox,
    pub api: TestApi,
    pub key: String,
    /// Follows no redirects, so tests read where the browser would go; keeps cookies, as the
    /// person's browser keeps the signup session's.
    pub browser: reqwest::Client,
}

/// Where a 303 sends the browser, and its query parameters.
#[derive(Debug)]
pub struct Landing {
    pub status: u16,
    pub location: String,
    pub params: HashMap<String, String>,
    pub body: String,
}

impl SignupWorld {
    pub async fn new() -> Self {
        Self::new_with(|_| {}).await
    }

    /// A world whose api settings `configure` adjusts (e.g. the health check interval).
    pub async fn new_with(configure: impl FnOnce(&mut gangway_api::config::ApiConfig)) -> Self {
        let env = TestEnv::new().await;
        let sandbox = TestSandbox::spawn().await;
        let mut config = api_config(&env);
        config.meta.sandbox_url = sandbox.base_url.clone();
        // Receivers in tests listen on loopback.
        config.webhook_allow_private = true;
        // Hosted URLs and the full-page redirect_uri are built from the public URL, so it must
        // name the port the api really listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        config.api_addr = ([127, 0, 0, 1], port).into();
        config.public_url = format!("http://127.0.0.1:{port}");
        configure(&mut config);
        let api = TestApi::spawn_with(config).await;
        let (_, key) = api.create_org("Signup Co").await;
        let browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .build()
            .expect("http client");
        Self {
            env,
            sandbox,
            api,
            key,
            browser,
        }
    }

    /// Creates a link (with redirect URLs unless `body` sets its own) and returns its id.
    pub async fn link(&self, body: Value) -> String {
        let mut body = body;
        if body.get("redirectUrl").is_none() && body.get("successRedirectUrl").is_none() {
            body["redirectUrl"] = json!("https://app.example.com/whatsapp/done");
        }
        let (status, created) = self.api.create_link(&self.key, body).await;
        assert_eq!(status, 201, "{created}");
        created["data"]["id"].as_str().expect("link id").to_owned()
    }

    /// `GET /signup/{id}` as a browser: the status, the page, and where it redirects.
    pub async fn open(&self, link_id: &str) -> Landing {
        let response = self
            .browser
            .get(self.api.url(&format!("/signup/{link_id}")))
            .send()
            .await
            .expect("hosted page");
        landing(response).await
    }

    /// The `state` the hosted page was rendered with.
    pub async fn state(&self, link_id: &str) -> String {
        let page = self.open(link_id).await;
        assert_eq!(page.status, 200, "hosted page: {}", page.body);
        let start = page.body.find("\"state\":\"").expect("state in the page") + 9;
        let end = start + page.body[start..].find('"').expect("state ends");
        page.body[start..end].to_owned()
    }

    /// A code as Embedded Signup returns it for these assets.
    pub async fn code(&self, body: Value) -> String {
        let (status, minted) = self.sandbox.post("/sandbox/codes", body).await;
        assert_eq!(status, 201, "{minted}");
        minted["code"].as_str().expect("code").to_owned()
    }

    pub async fn finish_code(&self) -> String {
        self.code(json!({ "waba_id": COFFEE_WABA, "phone_number_id": COFFEE_PHONE }))
            .await
    }

    /// `POST /signup/{id}/callback` with these form fields.
    pub async fn callback(&self, link_id: &str, fields: &[(&str, &str)]) -> Landing {
        let response = self
            .browser
            .post(self.api.url(&format!("/signup/{link_id}/callback")))
            .form(fields)
            .send()
            .await
            .expect("callback");
        landing(response).await
    }

    /// A `CANCEL` callback: the person closed the dialog at `step`.
    pub async fn cancel(&self, link_id: &str, step: &str) -> Landing {
        let state = self.state(link_id).await;
        self.callback(
            link_id,
            &[("state", &state), ("event", "CANCEL"), ("current_step", step)],
        )
        .await
    }

    /// A `FINISH` callback for the coffee shop's first number, with a fresh code.
    pub async fn finish(&self, link_id: &str) -> Landing {
        let state = self.state(link_id).await;
        let code = self.finish_code().await;
        self.callback(
            link_id,
            &[
                ("state", &state),
                ("code", &code),
                ("event", "FINISH"),
                ("waba_id", COFFEE_WABA),
                ("phone_number_id", COFFEE_PHONE),
            ],
        )
        .await
    }

    /// A `FINISH` callback for a number added in the dialog in `country`, on `waba_id`; returns
    /// Meta's id of the new number and where the browser lands.
    pub async fn finish_with_new_number(
        &self,
        link_id: &str,
        waba_id: &str,
        country: &str,
    ) -> (String, Landing) {
        let state = self.state(link_id).await;
        let (status, phone) = self
            .sandbox
            .post(
                "/sandbox/phones",
                json!({ "waba_id": waba_id, "country": country }),
            )
            .await;
        assert_eq!(status, 201, "{phone}");
        let meta_id = phone["id"].as_str().expect("phone id").to_owned();
        let code = self
            .code(json!({ "waba_id": waba_id, "phone_number_id": meta_id }))
            .await;
        let landing = self
            .callback(
                link_id,
                &[
                    ("state", &state),
                    ("code", &code),
                    ("event", "FINISH"),
                    ("waba_id", waba_id),
                    ("phone_number_id", &meta_id),
                ],
            )
            .await;
        (meta_id, landing)
    }

    pub async fn get(&self, path: &str) -> Value {
        let (status, body) = self.api.call(reqwest::Method::GET, path, &self.key, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// The types of a link's events, in order.
    pub async fn link_event_types(&self, link_id: &str) -> Vec<String> {
        let events = self.get(&format!("/v1/onboarding-links/{link_id}/events")).await;
        events["data"]
            .as_array()
            .expect("events")
            .iter()
            .map(|e| e["type"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Every event payload of the organization, as text, to look for leaked secrets.
    pub async fn all_payloads(&self) -> String {
        let pool = sqlx::PgPool::connect(&self.env.database_url).await.expect("db");
        let rows: Vec<(String, Value)> =
            sqlx::query_as("SELECT event_type, payload FROM events ORDER BY position")
                .fetch_all(&pool)
                .await
                .expect("events");
        pool.close().await;
        rows.iter().map(|(t, p)| format!("{t} {p}\n")).collect()
    }
}

async fn landing(response: reqwest::Response) -> Landing {
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let params = url::Url::parse(&location)
        .map(|url| url.query_pairs().into_owned().collect())
        .unwrap_or_default();
    let body = response.text().await.unwrap_or_default();
    Landing {
        status,
        location,
        params,
        body,
    }
}
