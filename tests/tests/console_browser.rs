//! The console in a real headless Chromium, as a person uses it (popups blocked unless a click
//! opens them): sign in from the keyboard, create a link with the form, copy its hosted URL,
//! complete signup in the popup, see the number, see the webhook delivered to a local receiver
//! with its attempts and retry it, send a test event, revoke the key and see the session end.
//! Each page is kept as a screenshot in `target/browser-screenshots/console-*.png`, and every
//! form control on it must have a label.

use gangway_e2e::dispatch::{dispatcher_config, spawn_dispatcher, Receiver};
use gangway_e2e::hosted_signup::{assert_success, Choice, Signup, WAIT};
use gangway_e2e::signup::{SignupWorld, COFFEE_PHONE};
use gangway_e2e::{spawn_projector, wait_for_projection, wait_until};
use std::collections::HashSet;

/// Checks the page's controls are labelled and keeps a screenshot of it.
async fn look_at(signup: &Signup<'_>, name: &str) -> anyhow::Result<()> {
    let unlabelled = signup.browser.unlabelled_controls().await?;
    assert!(
        unlabelled.is_empty(),
        "{name}: controls without a label: {unlabelled:?}"
    );
    signup.browser.save_screenshot(&format!("console-{name}")).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_creates_a_link_sees_the_number_and_loses_the_session_with_the_key(
) -> anyhow::Result<()> {
    let world = SignupWorld::new().await;
    let bus = world.env.bus().await;
    let projector = spawn_projector(&world.env, world.env.bus().await);
    let _dispatcher = spawn_dispatcher(dispatcher_config(&world.env)).await;
    // The integrator's webhook receiver fails its first request, then accepts.
    let hooks = Receiver::start_with(vec![500], std::time::Duration::ZERO).await;
    let mut signup = Signup::start(&world).await?;
    let console = |path: &str| world.api.url(path);

    // Signed out, the console sends the person to the sign-in page.
    signup.browser.goto(&console("/console")).await?;
    signup.browser.wait_for("input#api_key", WAIT).await?;
    look_at(&signup, "login").await?;
    // From the keyboard: the key typed into the field, Enter submits.
    signup
        .browser
        .fill("#api_key", &format!("{}\u{E007}", world.key))
        .await?;
    signup.browser.wait_for_text("h1", "Overview", WAIT).await?;
    look_at(&signup, "overview").await?;

    // A link made with the console's form, its redirects back to the test's receiver.
    signup.browser.goto(&console("/console/links/new")).await?;
    signup.browser.wait_for("form input#name", WAIT).await?;
    look_at(&signup, "link-new").await?;
    signup.browser.fill("#name", "Browser customer").await?;
    signup.browser.fill("#externalId", "cus_console").await?;
    let ok = format!("{}/ok", signup.receiver.base);
    let failed = format!("{}/failed", signup.receiver.base);
    signup.browser.fill("#successRedirectUrl", &ok).await?;
    signup.browser.fill("#failureRedirectUrl", &failed).await?;
    signup.browser.fill("#companyName", "Console SaaS").await?;
    signup.browser.fill("#webhookUrl", &hooks.url("/hooks")).await?;
    signup
        .browser
        .fill("#webhookSecret", "a-console-secret-1234")
        .await?;
    signup
        .browser
        .click("input[value='phone_number.connected']")
        .await?;
    signup.browser.click("form button.primary").await?;
    let page = signup
        .browser
        .wait_for_url(|url| url.path().starts_with("/console/links/0"), WAIT)
        .await?;
    let link = page.path().trim_start_matches("/console/links/").to_owned();
    signup
        .browser
        .wait_for_text(".timeline", "onboarding_link.created", WAIT)
        .await?;
    look_at(&signup, "link").await?;
    let hosted = signup.browser.value("#hosted").await?;
    assert_eq!(
        hosted,
        signup.hosted_url(&link),
        "the page shows the link's hosted URL"
    );
    // The console's script adds a Copy button beside it.
    signup.browser.click("button.copy").await?;
    signup
        .browser
        .wait_for_text("button.copy", "Copied", WAIT)
        .await?;

    // The customer completes signup in the popup.
    let landing = signup
        .sign_up(&link, "#continue", Choice::finish(COFFEE_PHONE))
        .await?;
    assert_success(
        &signup,
        &landing,
        &link,
        "cus_console",
        (COFFEE_PHONE, "+15550100001"),
    )
    .await;
    wait_for_projection(&world.env, &bus).await;

    // The number, with its health, on the numbers page; the link completed on the links page.
    signup.browser.goto(&console("/console/numbers")).await?;
    signup
        .browser
        .wait_for_text("table", "+15550100001", WAIT)
        .await?;
    let row = signup.browser.text("tbody tr").await?;
    assert!(row.contains("connected"), "{row}");
    // Its health, checked with Meta (the sandbox) from the row's button.
    signup.browser.click("tbody tr form button").await?;
    let row = signup.browser.wait_for_text("tbody tr", "healthy", WAIT).await?;
    assert!(!row.contains("never"), "a last check is shown: {row}");
    look_at(&signup, "numbers").await?;
    signup
        .browser
        .goto(&console("/console/links?status=completed"))
        .await?;
    signup
        .browser
        .wait_for_text("table", "Browser customer", WAIT)
        .await?;
    look_at(&signup, "links").await?;
    // The link's webhook became an endpoint; its first delivery failed once, then arrived.
    wait_until("the connection is delivered", WAIT, || async {
        hooks.received_at("/hooks").len() >= 2
    })
    .await;
    signup.browser.goto(&console("/console/webhooks")).await?;
    signup.browser.wait_for_text("table", "/hooks", WAIT).await?;
    look_at(&signup, "webhooks").await?;
    signup.browser.click("tbody a").await?;
    let delivery = signup
        .browser
        .wait_for_text("section.card", "delivered", WAIT)
        .await?;
    for shown in ["phone_number.connected", "500", "200"] {
        assert!(delivery.contains(shown), "the delivery shows {shown}: {delivery}");
    }
    look_at(&signup, "webhook").await?;
    let first_id = hooks.received_at("/hooks")[0].header("webhook-id").to_owned();
    // Retried by hand: the receiver gets the same message again, under the same webhook-id.
    signup.browser.click("section.card form button.primary").await?;
    wait_until("the retried delivery arrives", WAIT, || async {
        hooks.received_at("/hooks").len() >= 3
    })
    .await;
    let received = hooks.received_at("/hooks");
    assert_eq!(received[2].header("webhook-id"), first_id);
    assert_eq!(received[2].json()["event"], "phone_number.connected");
    // A test event, sent from its button, arrives as one more message.
    signup
        .browser
        .wait_for_text("form button", "Send a test event", WAIT)
        .await?;
    let test_button = "div.inline form:last-child button";
    assert_eq!(signup.browser.text(test_button).await?, "Send a test event");
    signup.browser.click(test_button).await?;
    wait_until("the test event arrives", WAIT, || async {
        hooks
            .received_at("/hooks")
            .iter()
            .any(|r| r.json()["event"] == "webhook.test")
    })
    .await;
    let ids: HashSet<String> = hooks
        .received_at("/hooks")
        .iter()
        .map(|r| r.header("webhook-id").to_owned())
        .collect();
    assert_eq!(ids.len(), 2, "the connection (three attempts) and the test");

    // Revoking the session's own key ends the session at once.
    signup.browser.goto(&console("/console/api-keys")).await?;
    signup
        .browser
        .wait_for_text("table", "(this session)", WAIT)
        .await?;
    look_at(&signup, "api-keys").await?;
    signup.browser.click("tbody form button.danger").await?;
    signup
        .browser
        .wait_for_text("main", "Your session has ended", WAIT)
        .await?;
    signup.browser.goto(&console("/console/links")).await?;
    signup.browser.wait_for("input#api_key", WAIT).await?;

    projector.cancel();
    signup.browser.close().await
}
