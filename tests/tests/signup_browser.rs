//! The hosted signup page and the sandbox's Embedded Signup popup in a real headless Chromium:
//! from a link's `hostedUrl` through the dialog to the integrator's redirect URL, which here is a
//! small receiver of our own, and the link read back over the API.
//!
//! Three tests, each with one browser and its own signup world (the sandbox remembers what its
//! numbers went through), run several flows in sequence to stay light on a small CI machine.

use anyhow::Context;
use chrono::{DateTime, Utc};
use gangway_e2e::hosted_signup::{assert_failure, assert_success, Choice, Signup, COFFEE_PHONE_TWO, WAIT};
use gangway_e2e::signup::{SignupWorld, COFFEE_APP_PHONE, COFFEE_PHONE};
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;

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
    assert!(
        !signup.browser.script_opens_popups().await?,
        "popups are blocked unless a click opens them, as in people's browsers"
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
