//! The hosted signup page and the sandbox's Embedded Signup popup in a real headless Chromium:
//! from a link's `hostedUrl` through the dialog to the integrator's redirect URL, which here is a
//! small receiver of our own, and the link read back over the API.
//!
//! Three tests, each with one browser and its own signup world (the sandbox remembers what its
//! numbers went through), run several flows in sequence to stay light on a small CI machine.

use anyhow::Context;
use axum::extract::{RawQuery, State};
use axum::response::Html;
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use gangway_e2e::browser::Browser;
use gangway_e2e::signup::{SignupWorld, COFFEE_APP_PHONE, COFFEE_PHONE, COFFEE_WABA};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);
/// The coffee shop's second dedicated number (services/meta-sandbox/src/world.rs).
const COFFEE_PHONE_TWO: &str = "106540352242923";
const SUCCESS_KEYS: [&str; 8] = [
    "status",
    "onboarding_link_id",
    "external_id",
    "phone_number_id",
    "waba_id",
    "display_phone_number",
    "meta_phone_number_id",
    "meta_waba_id",
];
const FAILURE_KEYS: [&str; 5] = [
    "status",
    "onboarding_link_id",
    "external_id",
    "error_code",
    "error",
];

/// The integrator's side: `/ok` and `/failed` on a free loopback port, recording every query.
#[derive(Clone)]
struct Receiver {
    base: String,
    queries: Arc<Mutex<Vec<String>>>,
}

impl Receiver {
    async fn start() -> Self {
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

    fn received(&self, query: &str) -> bool {
        self.queries
            .lock()
            .expect("receiver lock")
            .iter()
            .any(|q| q == query)
    }
}

/// What the person does in the popup.
struct Choice<'a> {
    phone: &'a str,
    scenario: &'a str,
    verification_code: &'a str,
    callback_first: bool,
    press: &'a str,
}

impl<'a> Choice<'a> {
    fn finish(phone: &'a str) -> Self {
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
struct Landing {
    path: String,
    params: HashMap<String, String>,
}

struct Signup<'a> {
    world: &'a SignupWorld,
    receiver: Receiver,
    browser: Browser,
}

impl<'a> Signup<'a> {
    async fn start(world: &'a SignupWorld) -> anyhow::Result<Self> {
        Ok(Self {
            world,
            receiver: Receiver::start().await,
            browser: Browser::launch().await?,
        })
    }

    /// A link whose redirects go to the receiver, with `extra` fields.
    async fn link(&self, extra: Value) -> String {
        let mut body = json!({
            "successRedirectUrl": format!("{}/ok", self.receiver.base),
            "failureRedirectUrl": format!("{}/failed", self.receiver.base),
        });
        for (key, value) in extra.as_object().expect("extra fields are an object") {
            body[key] = value.clone();
        }
        self.world.link(body).await
    }

    fn hosted_url(&self, link: &str) -> String {
        self.world.api.url(&format!("/signup/{link}"))
    }

    /// Opens the hosted page, presses `button` once the SDK enabled it and waits for the popup's
    /// dialog to be ready; the session is left in the popup.
    async fn open_dialog(&mut self, link: &str, button: &str) -> anyhow::Result<()> {
        self.browser.goto(&self.hosted_url(link)).await?;
        self.browser.wait_for(&format!("{button}:enabled"), WAIT).await?;
        self.browser.click(button).await?;
        self.browser.switch_to_new_window(WAIT).await?;
        self.browser
            .wait_for(r#"form#signup[data-state="ready"]"#, WAIT)
            .await
    }

    /// Fills the dialog in as `choice` says and presses its button.
    async fn choose(&self, choice: &Choice<'_>) -> anyhow::Result<()> {
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
    async fn sign_up(&mut self, link: &str, button: &str, choice: Choice<'_>) -> anyhow::Result<Landing> {
        self.open_dialog(link, button).await?;
        self.choose(&choice).await?;
        self.browser.switch_to_main().await?;
        self.landing(link).await
    }

    /// Opens a link's hosted page that redirects straight away; where it lands.
    async fn open_refused(&self, link: &str) -> anyhow::Result<Landing> {
        self.browser.goto(&self.hosted_url(link)).await?;
        self.landing(link).await
    }

    /// Waits for the current window to reach the receiver with this link's id in the query.
    async fn landing(&self, link: &str) -> anyhow::Result<Landing> {
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

    async fn read_link(&self, link: &str) -> Value {
        self.world.get(&format!("/v1/onboarding-links/{link}")).await["data"].clone()
    }

    async fn read_phone(&self, phone: &str) -> Value {
        self.world.get(&format!("/v1/phones/{phone}")).await["data"].clone()
    }
}

fn keys(landing: &Landing) -> BTreeSet<&str> {
    landing.params.keys().map(String::as_str).collect()
}

/// A success landing for `link`: the exact query, and the link read back as completed with the
/// same ids. Returns Gangway's phone id.
async fn assert_success(
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
async fn assert_failure(
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dedicated_signups_complete_in_the_browser_and_a_used_link_is_refused() -> anyhow::Result<()> {
    let world = SignupWorld::new().await;
    let mut signup = Signup::start(&world).await?;

    // A plain signup: the session message, then the login response.
    let first = signup.link(json!({ "externalId": "cus_browser" })).await;
    let landing = signup
        .sign_up(&first, "#continue", Choice::finish(COFFEE_PHONE))
        .await?;
    let phone_id = assert_success(
        &signup,
        &landing,
        &first,
        "cus_browser",
        (COFFEE_PHONE, "+15550100001"),
    )
    .await;
    let read = signup.read_link(&first).await;
    assert_eq!(read["connectionType"], "dedicated");
    assert_eq!(read["isPhoneRegistered"], true);
    assert_eq!(
        signup.browser.windows().await?.len(),
        1,
        "the popup closed itself"
    );

    // The same hosted URL again: the link is used.
    let again = signup.open_refused(&first).await?;
    let read = assert_failure(&signup, &again, &first, "cus_browser", "already_used").await;
    assert_eq!(read["status"], "completed", "a refused visit changes nothing");

    // The login response before the session message, for the second number.
    let second = signup.link(json!({ "externalId": "cus_browser_2" })).await;
    let choice = Choice {
        callback_first: true,
        ..Choice::finish(COFFEE_PHONE_TWO)
    };
    let landing = signup.sign_up(&second, "#continue", choice).await?;
    let second_phone = assert_success(
        &signup,
        &landing,
        &second,
        "cus_browser_2",
        (COFFEE_PHONE_TWO, "+15550100002"),
    )
    .await;
    assert_ne!(second_phone, phone_id, "another number is another phone");

    // Reconnecting the first number gives back the same phone.
    let reconnect = signup
        .link(json!({ "externalId": "cus_browser", "reconnectPhoneNumberId": phone_id }))
        .await;
    let landing = signup
        .sign_up(&reconnect, "#continue", Choice::finish(COFFEE_PHONE))
        .await?;
    let reconnected = assert_success(
        &signup,
        &landing,
        &reconnect,
        "cus_browser",
        (COFFEE_PHONE, "+15550100001"),
    )
    .await;
    assert_eq!(reconnected, phone_id, "the same phone");
    let phone = signup.read_phone(&phone_id).await;
    assert!(phone["reconnectedAt"].is_string(), "{phone}");

    signup.browser.close().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_in_the_browser_land_on_the_failure_url_with_their_codes() -> anyhow::Result<()> {
    let world = SignupWorld::new().await;
    let mut signup = Signup::start(&world).await?;

    // Created first so that it expires while the other flows run.
    let expires_at = Utc::now() + chrono::Duration::seconds(3);
    let expiring = signup
        .link(json!({ "externalId": "cus_late", "expiresAt": expires_at.to_rfc3339() }))
        .await;

    // Cancel in the dialog: the step it was on is recorded.
    let cancelled = signup.link(json!({ "externalId": "cus_cancel" })).await;
    let choice = Choice {
        press: "#cancel",
        ..Choice::finish(COFFEE_PHONE)
    };
    let landing = signup.sign_up(&cancelled, "#continue", choice).await?;
    let read = assert_failure(
        &signup,
        &landing,
        &cancelled,
        "cus_cancel",
        "facebook_auth_failed",
    )
    .await;
    assert!(
        landing.params["error"].contains("PHONE_NUMBER_SETUP"),
        "{landing:?}"
    );
    assert_eq!(read["status"], "failed", "{read}");
    assert_eq!(read["lastError"]["step"], "PHONE_NUMBER_SETUP");
    assert_eq!(read["lastError"]["errorCode"], "facebook_auth_failed");

    // A wrong verification code, then the scenario itself: the number cannot be registered.
    let unverified = signup.link(json!({ "externalId": "cus_unverified" })).await;
    for choice in [
        Choice {
            verification_code: "000000",
            ..Choice::finish(COFFEE_PHONE)
        },
        Choice {
            scenario: "phone_verification_failed",
            ..Choice::finish(COFFEE_PHONE)
        },
    ] {
        let landing = signup.sign_up(&unverified, "#continue", choice).await?;
        let read = assert_failure(
            &signup,
            &landing,
            &unverified,
            "cus_unverified",
            "phone_verification_failed",
        )
        .await;
        assert_eq!(read["status"], "failed", "{read}");
        assert_eq!(read["lastError"]["errorCode"], "phone_verification_failed");
    }
    // The failed link can be tried again, and the right code connects the number.
    let landing = signup
        .sign_up(&unverified, "#continue", Choice::finish(COFFEE_PHONE))
        .await?;
    assert_success(
        &signup,
        &landing,
        &unverified,
        "cus_unverified",
        (COFFEE_PHONE, "+15550100001"),
    )
    .await;

    // A second link for the same customer revokes the first.
    let superseded = signup.link(json!({ "externalId": "cus_moving" })).await;
    let newer = signup.link(json!({ "externalId": "cus_moving" })).await;
    let landing = signup.open_refused(&superseded).await?;
    let read = assert_failure(&signup, &landing, &superseded, "cus_moving", "link_revoked").await;
    assert_eq!(read["status"], "revoked", "{read}");
    assert_eq!(signup.read_link(&newer).await["status"], "pending");

    // Past its expiry, the link's page sends the person away.
    let expires_at: DateTime<Utc> = signup.read_link(&expiring).await["expiresAt"]
        .as_str()
        .context("expiresAt")?
        .parse()?;
    if let Ok(left) = (expires_at - Utc::now()).to_std() {
        tokio::time::sleep(left + Duration::from_millis(50)).await;
    }
    let landing = signup.open_refused(&expiring).await?;
    let read = assert_failure(&signup, &landing, &expiring, "cus_late", "link_expired").await;
    assert_eq!(read["status"], "expired", "{read}");

    signup.browser.close().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coexistence_and_the_full_page_fallback_complete_in_the_browser() -> anyhow::Result<()> {
    let world = SignupWorld::new().await;
    let mut signup = Signup::start(&world).await?;

    // A coexistence-only link offers only the Business-app button and connects that number.
    let coexistence = signup
        .link(json!({ "externalId": "cus_app", "allowedConnectionTypes": ["coexistence"] }))
        .await;
    signup.browser.goto(&signup.hosted_url(&coexistence)).await?;
    signup
        .browser
        .wait_for("#continue-coexistence:enabled", WAIT)
        .await?;
    assert!(
        signup
            .browser
            .wait_for("#continue", Duration::from_millis(200))
            .await
            .is_err(),
        "no dedicated button on a coexistence-only link"
    );
    let choice = Choice {
        scenario: "coexistence",
        ..Choice::finish(COFFEE_APP_PHONE)
    };
    let landing = signup
        .sign_up(&coexistence, "#continue-coexistence", choice)
        .await?;
    assert_success(
        &signup,
        &landing,
        &coexistence,
        "cus_app",
        (COFFEE_APP_PHONE, "+15550100003"),
    )
    .await;
    let read = signup.read_link(&coexistence).await;
    assert_eq!(read["connectionType"], "coexistence");
    assert_eq!(read["isPhoneRegistered"], false);

    // The popup closes without a login response: the page offers the full-page dialog, in the
    // same tab, which comes back through /signup/{id}/return.
    let full_page = signup.link(json!({ "externalId": "cus_full_page" })).await;
    signup.open_dialog(&full_page, "#continue").await?;
    signup
        .choose(&Choice {
            scenario: "close_without_auth_response",
            ..Choice::finish(COFFEE_PHONE)
        })
        .await?;
    signup.browser.switch_to_main().await?;
    signup.browser.wait_for("#fallback-link", WAIT).await?;
    assert_eq!(
        signup.read_link(&full_page).await["status"],
        "pending",
        "nothing was submitted"
    );
    signup.browser.click("#fallback-link").await?;
    let dialog = signup
        .browser
        .wait_for_url(|url| url.path().ends_with("/dialog/oauth"), WAIT)
        .await?;
    let query: HashMap<String, String> = dialog.query_pairs().into_owned().collect();
    assert_eq!(query.get("display"), None, "the full-page dialog");
    let return_url = signup.world.api.url(&format!("/signup/{full_page}/return"));
    assert_eq!(query.get("redirect_uri"), Some(&return_url));
    assert_eq!(signup.browser.windows().await?.len(), 1, "no popup this time");
    signup
        .browser
        .wait_for(r#"form#signup[data-state="ready"]"#, WAIT)
        .await?;
    signup.choose(&Choice::finish(COFFEE_PHONE)).await?;
    let landing = signup.landing(&full_page).await?;
    assert_success(
        &signup,
        &landing,
        &full_page,
        "cus_full_page",
        (COFFEE_PHONE, "+15550100001"),
    )
    .await;

    signup.browser.close().await
}
