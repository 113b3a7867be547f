//! Driving the hosted signup page in a real browser: a link whose redirect URLs point at a small
//! receiver of our own, the sandbox's Embedded Signup popup, and the landing checked key by key.

use crate::browser::Browser;
use crate::signup::{SignupWorld, COFFEE_WABA};
use axum::extract::{RawQuery, State};
use axum::response::Html;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const WAIT: Duration = Duration::from_secs(15);
/// The coffee shop's second dedicated number (services/meta-sandbox/src/world.rs).
pub const COFFEE_PHONE_TWO: &str = "106540352242923";
pub const SUCCESS_KEYS: [&str; 9] = [
    "status",
    "onboarding_link_id",
    "external_id",
    "phone_number_id",
    "waba_id",
    "display_phone_number",
    "meta_phone_number_id",
    "meta_waba_id",
    "signature",
];
pub const FAILURE_KEYS: [&str; 6] = [
    "status",
    "onboarding_link_id",
    "external_id",
    "error_code",
    "error",
    "signature",
];

/// The integrator's side: `/ok` and `/failed` on a free loopback port, recording every query.
#[derive(Clone)]
pub struct Receiver {
    pub base: String,
    pub queries: Arc<Mutex<Vec<String>>>,
}

impl Receiver {
    pub async fn start() -> Self {
        let queries = Arc::new(Mutex::new(Vec::new()));
        async fn record(
            State(queries): State<Arc<Mutex<Vec<String>>>>,
            RawQuery(query): RawQuery,
        ) -> Html<&'static str> {
            queries
                .lock()
                .expect("receiver lock")
                .push(query.unwrap_or_default());
            Html("<!doctype html><title>Integrator</title><p id=\"received\">Received</p>")
        }
        let app = Router::new()
            .route("/ok", get(record))
            .route("/failed", get(record))
            .with_state(queries.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding a loopback port");
        let base = format!("http://{}", listener.local_addr().expect("local address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base, queries }
    }

    pub fn received(&self, query: &str) -> bool {
        self.queries
            .lock()
            .expect("receiver lock")
            .iter()
            .any(|q| q == query)
    }
}

/// What the person does in the popup.
pub struct Choice<'a> {
    pub phone: &'a str,
    pub scenario: &'a str,
    pub verification_code: &'a str,
    pub callback_first: bool,
    pub press: &'a str,
}

impl<'a> Choice<'a> {
    pub fn finish(phone: &'a str) -> Self {
        Self {
            phone,
            scenario: "finish",
            verification_code: "123456",
            callback_first: false,
            press: "#finish",
        }
    }
}

/// Where the browser came to rest at the receiver: `/ok` or `/failed`, and the query.
#[derive(Debug)]
pub struct Landing {
    pub path: String,
    pub params: HashMap<String, String>,
}

pub struct Signup<'a> {
    pub world: &'a SignupWorld,
    pub receiver: Receiver,
    pub browser: Browser,
}

impl<'a> Signup<'a> {
    pub async fn start(world: &'a SignupWorld) -> anyhow::Result<Self> {
        Ok(Self {
            world,
            receiver: Receiver::start().await,
            browser: Browser::launch().await?,
        })
    }

    /// A link whose redirects go to the receiver, with `extra` fields.
    pub async fn link(&self, extra: Value) -> String {
        let mut body = json!({
            "successRedirectUrl": format!("{}/ok", self.receiver.base),
            "failureRedirectUrl": format!("{}/failed", self.receiver.base),
        });
        for (key, value) in extra.as_object().expect("extra fields are an object") {
            body[key] = value.clone();
        }
        self.world.link(body).await
    }

    pub fn hosted_url(&self, link: &str) -> String {
        self.world.api.url(&format!("/signup/{link}"))
    }

    /// Opens the hosted page, presses `button` once the SDK enabled it and waits for the popup's
    /// dialog to be ready; the session is left in the popup.
    pub async fn open_dialog(&mut self, link: &str, button: &str) -> anyhow::Result<()> {
        self.browser.goto(&self.hosted_url(link)).await?;
        self.browser.wait_for(&format!("{button}:enabled"), WAIT).await?;
        self.browser.click(button).await?;
        self.browser.switch_to_new_window(WAIT).await?;
        self.browser
            .wait_for(r#"form#signup[data-state="ready"]"#, WAIT)
            .await
    }

    /// Fills the dialog in as `choice` says and presses its button.
    pub async fn choose(&self, choice: &Choice<'_>) -> anyhow::Result<()> {
        self.browser.select("#scenario", choice.scenario).await?;
        self.browser.select("#phone", choice.phone).await?;
        self.browser
            .fill("#verification-code", choice.verification_code)
            .await?;
        if choice.callback_first {
            self.browser.click("#callback-first").await?;
        }
        self.browser.click(choice.press).await
    }

    /// The whole popup flow for `link`, ending where the main window lands.
    pub async fn sign_up(&mut self, link: &str, button: &str, choice: Choice<'_>) -> anyhow::Result<Landing> {
        self.open_dialog(link, button).await?;
        self.choose(&choice).await?;
        self.browser.switch_to_main().await?;
        self.landing(link).await
    }

    /// Opens a link's hosted page that redirects straight away; where it lands.
    pub async fn open_refused(&self, link: &str) -> anyhow::Result<Landing> {
        self.browser.goto(&self.hosted_url(link)).await?;
        self.landing(link).await
    }

    /// Waits for the current window to reach the receiver with this link's id in the query.
    pub async fn landing(&self, link: &str) -> anyhow::Result<Landing> {
        let base = self.receiver.base.clone();
        let url = self
            .browser
            .wait_for_url(
                |url| {
                    url.as_str().starts_with(&base)
                        && url
                            .query_pairs()
                            .any(|(key, value)| key == "onboarding_link_id" && value == link)
                },
                WAIT,
            )
            .await?;
        let query = url.query().unwrap_or_default();
        assert!(self.receiver.received(query), "the receiver was asked for {url}");
        Ok(Landing {
            path: url.path().to_owned(),
            params: url.query_pairs().into_owned().collect(),
        })
    }

    pub async fn read_link(&self, link: &str) -> Value {
        self.world.get(&format!("/v1/onboarding-links/{link}")).await["data"].clone()
    }

    pub async fn read_phone(&self, phone: &str) -> Value {
        self.world.get(&format!("/v1/phones/{phone}")).await["data"].clone()
    }
}

pub fn keys(landing: &Landing) -> BTreeSet<&str> {
    landing.params.keys().map(String::as_str).collect()
}

/// A success landing for `link`: the exact query, and the link read back as completed with the
/// same ids. Returns Gangway's phone id.
pub async fn assert_success(
    signup: &Signup<'_>,
    landing: &Landing,
    link: &str,
    external_id: &str,
    (meta_phone, display): (&str, &str),
) -> String {
    let p = &landing.params;
    assert_eq!(landing.path, "/ok", "{landing:?}");
    assert_eq!(keys(landing), BTreeSet::from(SUCCESS_KEYS), "{landing:?}");
    assert_eq!(p["status"], "success");
    assert_eq!(p["onboarding_link_id"], link);
    assert_eq!(p["external_id"], external_id);
    assert_eq!(p["meta_phone_number_id"], meta_phone);
    assert_eq!(p["meta_waba_id"], COFFEE_WABA);
    assert_eq!(p["display_phone_number"], display);

    let read = signup.read_link(link).await;
    assert_eq!(read["status"], "completed", "{read}");
    assert_eq!(read["phoneNumberId"], p["phone_number_id"].as_str());
    assert_eq!(read["wabaId"], p["waba_id"].as_str());
    assert_eq!(read["resultingWabaId"], COFFEE_WABA);
    assert_eq!(read["phoneNumber"], display);

    let phone = signup.read_phone(&p["phone_number_id"]).await;
    assert_eq!(phone["status"], "connected", "{phone}");
    assert_eq!(phone["metaPhoneNumberId"], meta_phone);
    assert_eq!(phone["onboardingLinkId"], link);
    p["phone_number_id"].clone()
}

/// A failure landing for `link` with `error_code`, and the link read back.
pub async fn assert_failure(
    signup: &Signup<'_>,
    landing: &Landing,
    link: &str,
    external_id: &str,
    error_code: &str,
) -> Value {
    let p = &landing.params;
    assert_eq!(landing.path, "/failed", "{landing:?}");
    assert_eq!(keys(landing), BTreeSet::from(FAILURE_KEYS), "{landing:?}");
    assert_eq!(p["status"], "error");
    assert_eq!(p["onboarding_link_id"], link);
    assert_eq!(p["external_id"], external_id);
    assert_eq!(p["error_code"], error_code, "{landing:?}");
    signup.read_link(link).await
}
