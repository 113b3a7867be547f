//! The signup callback over real HTTP against the meta sandbox: what a browser posts after
//! Embedded Signup, and where it is sent next.

use gangway_e2e::signup::{SignupWorld, BAKERY_WABA, COFFEE_APP_PHONE, COFFEE_PHONE, COFFEE_WABA};
use gangway_e2e::{spawn_projector, wait_for_projection};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_signup_connects_the_number_and_redirects_with_its_ids() {
    let world = SignupWorld::new().await;
    let link = world
        .link(json!({ "externalId": "cus_42", "name": "Coffee" }))
        .await;

    let landing = world.finish(&link).await;

    assert_eq!(landing.status, 303, "{}", landing.body);
    assert!(landing
        .location
        .starts_with("https://app.example.com/whatsapp/done?"));
    let p = &landing.params;
    assert_eq!(p["status"], "success");
    assert_eq!(p["onboarding_link_id"], link);
    assert_eq!(p["external_id"], "cus_42");
    assert_eq!(p["meta_phone_number_id"], COFFEE_PHONE);
    assert_eq!(p["meta_waba_id"], COFFEE_WABA);
    assert_eq!(p["display_phone_number"], "+15550100001");

    let read = world.get(&format!("/v1/onboarding-links/{link}")).await["data"].clone();
    assert_eq!(read["status"], "completed");
    assert_eq!(read["phoneNumberId"], p["phone_number_id"].as_str());
    assert_eq!(read["wabaId"], p["waba_id"].as_str());
    assert_eq!(read["resultingWabaId"], COFFEE_WABA);
    assert_eq!(read["phoneNumber"], "+15550100001");
    assert_eq!(read["isPhoneRegistered"], true);
    assert_eq!(read["connectionType"], "dedicated");
    assert!(read["completedAt"].is_string() && read["usedAt"].is_string());

    let phone_id = &p["phone_number_id"];
    let phone = world.get(&format!("/v1/phones/{phone_id}")).await["data"].clone();
    assert_eq!(phone["status"], "connected");
    assert_eq!(phone["metaPhoneNumberId"], COFFEE_PHONE);
    assert_eq!(phone["externalId"], "cus_42");
    assert_eq!(phone["onboardingLinkId"], link.as_str());

    assert_eq!(
        world.link_event_types(&link).await,
        [
            "onboarding_link.created",
            "onboarding_link.opened",
            "onboarding_link.callback_received",
            "onboarding_link.token_exchanged",
            "onboarding_link.completed"
        ]
    );
    let phone_events = world.get(&format!("/v1/phones/{phone_id}/events")).await;
    assert_eq!(phone_events["data"][0]["type"], "phone_number.created");

    // The sandbox saw the number registered and our app subscribed to the WABA.
    let sandbox_world: serde_json::Value = world
        .sandbox
        .http
        .get(world.sandbox.url("/sandbox/world"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let waba = sandbox_world["wabas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["id"] == COFFEE_WABA)
        .unwrap();
    assert_eq!(waba["subscribed_apps"].as_array().unwrap().len(), 1);

    // The read side catches up: the phone is listed, tenant-scoped.
    let bus = world.env.bus().await;
    let _projector = spawn_projector(&world.env, bus.clone());
    wait_for_projection(&world.env, &bus).await;
    let listed = world.get("/v1/phones").await;
    assert_eq!(listed["pagination"]["total"], 1);
    assert_eq!(listed["data"][0]["id"], phone_id.as_str());
    let (_, other_key) = world.api.create_org("Someone Else").await;
    let (status, _) = world
        .api
        .call(
            reqwest::Method::GET,
            &format!("/v1/phones/{phone_id}"),
            &other_key,
            None,
        )
        .await;
    assert_eq!(status, 404, "another organization's phone is not found");
    let (_, others) = world
        .api
        .call(reqwest::Method::GET, "/v1/phones", &other_key, None)
        .await;
    assert_eq!(others["pagination"]["total"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_code_or_pin_reaches_events_or_responses() {
    let world = SignupWorld::new().await;
    let link = world.link(json!({})).await;
    let state = world.state(&link).await;
    let code = world.finish_code().await;
    let landing = world
        .callback(
            &link,
            &[
                ("state", &state),
                ("code", &code),
                ("event", "FINISH"),
                ("waba_id", COFFEE_WABA),
                ("phone_number_id", COFFEE_PHONE),
            ],
        )
        .await;
    assert_eq!(landing.params["status"], "success");
    let payloads = world.all_payloads().await;
    assert!(payloads.contains("tokenRef"), "{payloads}");
    assert!(!payloads.contains(&code), "the code is never recorded");
    assert!(!payloads.contains("EAA"), "no token text: {payloads}");
    assert!(!payloads.contains("\"pin\""), "only a reference to the PIN");
    assert!(!landing.location.contains(&code));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_callbacks_complete_the_link_once() {
    let world = SignupWorld::new().await;
    let link = world.link(json!({})).await;
    let state = world.state(&link).await;
    let code = world.finish_code().await;
    let fields = [
        ("state", state.as_str()),
        ("code", code.as_str()),
        ("event", "FINISH"),
        ("waba_id", COFFEE_WABA),
        ("phone_number_id", COFFEE_PHONE),
    ];
    let attempts = (0..20).map(|_| world.callback(&link, &fields));
    let landings = futures::future::join_all(attempts).await;

    let successes = landings
        .iter()
        .filter(|l| l.params.get("status").map(String::as_str) == Some("success"));
    assert_eq!(successes.count(), 1, "{landings:#?}");
    let used = landings
        .iter()
        .filter(|l| l.params.get("error_code").map(String::as_str) == Some("already_used"));
    assert_eq!(used.count(), 19);

    let types = world.link_event_types(&link).await;
    let count = |t: &str| types.iter().filter(|x| *x == t).count();
    assert_eq!(count("onboarding_link.callback_received"), 1, "{types:?}");
    assert_eq!(count("onboarding_link.token_exchanged"), 1);
    assert_eq!(count("onboarding_link.completed"), 1);
    assert_eq!(count("onboarding_link.failed"), 0);
    let payloads = world.all_payloads().await;
    assert_eq!(payloads.matches("phone_number.created").count(), 1);

    // Afterwards the page itself refuses: the link is used.
    let again = world.open(&link).await;
    assert_eq!(again.status, 303);
    assert_eq!(again.params["error_code"], "already_used");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_records_the_step_and_the_link_can_be_tried_again() {
    let world = SignupWorld::new().await;
    let link = world
        .link(json!({
            "successRedirectUrl": "https://app.example.com/ok",
            "failureRedirectUrl": "https://app.example.com/failed",
            "externalId": "cus_7"
        }))
        .await;
    let landing = world.cancel(&link, "PHONE_NUMBER_SETUP").await;
    assert_eq!(landing.status, 303);
    assert!(landing.location.starts_with("https://app.example.com/failed?"));
    assert_eq!(landing.params["status"], "error");
    assert_eq!(landing.params["error_code"], "facebook_auth_failed");
    assert_eq!(landing.params["external_id"], "cus_7");
    assert!(landing.params["error"].contains("PHONE_NUMBER_SETUP"));

    let read = world.get(&format!("/v1/onboarding-links/{link}")).await["data"].clone();
    assert_eq!(read["status"], "failed");
    assert_eq!(read["lastError"]["step"], "PHONE_NUMBER_SETUP");
    assert_eq!(read["lastError"]["errorCode"], "facebook_auth_failed");

    let retry = world.finish(&link).await;
    assert!(
        retry.location.starts_with("https://app.example.com/ok?"),
        "{retry:?}"
    );
    assert_eq!(retry.params["status"], "success");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meta_failures_map_to_the_documented_error_codes() {
    let world = SignupWorld::new().await;

    // A code past its lifetime.
    let link = world.link(json!({})).await;
    let state = world.state(&link).await;
    let code = world.finish_code().await;
    let (status, _) = world
        .sandbox
        .post(&format!("/sandbox/codes/{code}/expire"), json!({}))
        .await;
    assert_eq!(status, 204);
    let fields = |code: &str| {
        vec![
            ("state".to_owned(), state.clone()),
            ("code".to_owned(), code.to_owned()),
            ("event".to_owned(), "FINISH".to_owned()),
            ("waba_id".to_owned(), COFFEE_WABA.to_owned()),
            ("phone_number_id".to_owned(), COFFEE_PHONE.to_owned()),
        ]
    };
    let post = |fields: Vec<(String, String)>| {
        let link = link.clone();
        let world = &world;
        async move {
            let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            world.callback(&link, &pairs).await
        }
    };
    assert_eq!(
        post(fields(&code)).await.params["error_code"],
        "token_exchange_failed"
    );
    // The same code again: Meta says it was used (it burned on the failed exchange too).
    assert_eq!(
        post(fields(&code)).await.params["error_code"],
        "token_exchange_failed"
    );

    // A token Meta reports invalid.
    let code = world
        .code(json!({ "waba_id": COFFEE_WABA, "phone_number_id": COFFEE_PHONE, "token_valid": false }))
        .await;
    assert_eq!(
        post(fields(&code)).await.params["error_code"],
        "facebook_auth_failed"
    );

    // A number that failed verification cannot be registered.
    let (status, _) = world
        .sandbox
        .post(
            &format!("/sandbox/phones/{COFFEE_PHONE}/state"),
            json!({ "verified": false }),
        )
        .await;
    assert_eq!(status, 200);
    let code = world.finish_code().await;
    assert_eq!(
        post(fields(&code)).await.params["error_code"],
        "phone_verification_failed"
    );

    // Registered elsewhere (another two-step PIN).
    world
        .sandbox
        .post(
            &format!("/sandbox/phones/{COFFEE_PHONE}/state"),
            json!({ "verified": true, "registered_elsewhere": true }),
        )
        .await;
    let code = world.finish_code().await;
    assert_eq!(
        post(fields(&code)).await.params["error_code"],
        "phone_verification_failed"
    );

    // The WABA limit, reported by Embedded Signup itself.
    let limit = world
        .callback(
            &link,
            &[
                ("state", &state),
                ("event", "ERROR"),
                (
                    "error_message",
                    "This business has reached its limit of WhatsApp Business Accounts.",
                ),
            ],
        )
        .await;
    assert_eq!(limit.params["error_code"], "waba_limit_reached");

    // A rate limit on debug_token is retried and the signup completes.
    world
        .sandbox
        .post(
            "/sandbox/phones/106540352242922/state",
            json!({ "registered_elsewhere": false }),
        )
        .await;
    world
        .sandbox
        .post(
            "/sandbox/faults",
            json!({ "path_contains": "debug_token", "code": 4, "times": 1 }),
        )
        .await;
    let code = world.finish_code().await;
    let done = post(fields(&code)).await;
    assert_eq!(done.params["status"], "success", "{done:?}");
    let types = world.link_event_types(&link).await;
    assert_eq!(
        types.iter().filter(|t| *t == "onboarding_link.failed").count(),
        6,
        "{types:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_without_the_pages_state_is_refused_and_records_nothing() {
    let world = SignupWorld::new().await;
    let link = world.link(json!({})).await;
    let other = world.link(json!({})).await;
    let other_state = world.state(&other).await;
    let code = world.finish_code().await;
    for state in ["", "nonsense", other_state.as_str()] {
        let landing = world
            .callback(&link, &[("state", state), ("code", &code), ("event", "FINISH")])
            .await;
        assert_eq!(landing.status, 400, "state {state:?}");
        assert!(landing.body.contains("invalid_state"));
    }
    assert_eq!(world.link_event_types(&link).await, ["onboarding_link.created"]);
    let unknown = world
        .callback("6b1c1f6e-0000-7000-8000-000000000000", &[("state", &other_state)])
        .await;
    assert_eq!(
        unknown.status, 400,
        "no state is valid for a link that does not exist"
    );
    let missing = world.open("6b1c1f6e-0000-7000-8000-000000000000").await;
    assert_eq!(missing.status, 404);
    assert!(missing.body.contains("not_found"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_works_only_in_the_browser_that_opened_the_page_and_from_our_origin() {
    let world = SignupWorld::new().await;
    let link = world.link(json!({})).await;
    let page = world
        .browser
        .get(world.api.url(&format!("/signup/{link}")))
        .send()
        .await
        .expect("page");
    let cookie = page.headers()["set-cookie"].to_str().expect("cookie").to_owned();
    for attribute in [
        "HttpOnly",
        "SameSite=Lax",
        &format!("Path=/signup/{link}"),
        "Max-Age=3600",
    ] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "the test api's public URL is http: {cookie}"
    );
    let state = world.state(&link).await;
    let code = world.finish_code().await;
    let fields = [
        ("state", state.as_str()),
        ("code", code.as_str()),
        ("event", "FINISH"),
        ("waba_id", COFFEE_WABA),
        ("phone_number_id", COFFEE_PHONE),
    ];
    // Another browser (no signup cookie) holding a state copied from the page.
    let stranger = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let callback_url = world.api.url(&format!("/signup/{link}/callback"));
    let answer = stranger
        .post(&callback_url)
        .form(&fields)
        .send()
        .await
        .expect("callback");
    assert_eq!(answer.status(), 400);
    assert!(answer.text().await.expect("page").contains("invalid_state"));
    // The right browser, but tricked into posting from another site.
    let answer = world
        .browser
        .post(&callback_url)
        .header("origin", "https://attacker.example")
        .form(&fields)
        .send()
        .await
        .expect("callback");
    assert_eq!(answer.status(), 400);
    assert!(answer.text().await.expect("page").contains("invalid_origin"));
    assert_eq!(
        world.link_event_types(&link).await,
        ["onboarding_link.created", "onboarding_link.opened"]
    );

    // From the page's own origin, in the browser that opened it: connected.
    let origin = world.api.url("").trim_end_matches('/').to_owned();
    let answer = world
        .browser
        .post(&callback_url)
        .header("origin", origin)
        .form(&fields)
        .send()
        .await
        .expect("callback");
    assert_eq!(answer.status(), 303);
    let location = answer.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert!(location.contains("status=success"), "{location}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finish_only_waba_and_the_full_page_flow_find_the_number_from_the_waba() {
    let world = SignupWorld::new().await;
    let link = world.link(json!({})).await;
    let state = world.state(&link).await;
    let code = world.code(json!({ "waba_id": BAKERY_WABA })).await;
    let landing = world
        .callback(
            &link,
            &[
                ("state", &state),
                ("code", &code),
                ("event", "FINISH_ONLY_WABA"),
                ("waba_id", BAKERY_WABA),
                ("phone_number_id", ""),
            ],
        )
        .await;
    assert_eq!(landing.params["status"], "success", "{landing:?}");
    assert_eq!(landing.params["meta_phone_number_id"], "106540352242925");

    // Full page: the dialog sent the browser to /return with a code bound to that redirect_uri.
    let link = world.link(json!({})).await;
    let state = world.state(&link).await;
    let redirect_uri = world.api.url(&format!("/signup/{link}/return"));
    let code = world
        .code(
            json!({ "waba_id": COFFEE_WABA, "phone_number_id": COFFEE_PHONE, "redirect_uri": redirect_uri }),
        )
        .await;
    let response = world
        .browser
        .get(&redirect_uri)
        .query(&[("code", code.as_str()), ("state", state.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.contains("status=success"), "{location}");
    assert!(location.contains(&format!("meta_phone_number_id={COFFEE_PHONE}")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coexistence_connects_the_business_app_number_without_registering_it() {
    let world = SignupWorld::new().await;
    let link = world
        .link(json!({ "allowedConnectionTypes": ["coexistence"] }))
        .await;
    let state = world.state(&link).await;
    let code = world
        .code(json!({ "waba_id": COFFEE_WABA, "phone_number_id": COFFEE_APP_PHONE }))
        .await;
    let landing = world
        .callback(
            &link,
            &[
                ("state", &state),
                ("code", &code),
                ("event", "FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING"),
                ("waba_id", COFFEE_WABA),
            ],
        )
        .await;
    assert_eq!(landing.params["status"], "success", "{landing:?}");
    assert_eq!(landing.params["meta_phone_number_id"], COFFEE_APP_PHONE);
    let read = world.get(&format!("/v1/onboarding-links/{link}")).await["data"].clone();
    assert_eq!(read["connectionType"], "coexistence");
    assert_eq!(read["isPhoneRegistered"], false);
    // Contacts and history syncs were requested, once each.
    let phone = world
        .get(&format!("/v1/phones/{}", landing.params["phone_number_id"]))
        .await;
    assert_eq!(
        phone["data"]["syncRequestIds"].as_array().unwrap().len(),
        2,
        "{phone}"
    );

    // A dedicated finish on a coexistence-only link is refused.
    let link = world
        .link(json!({ "allowedConnectionTypes": ["coexistence"] }))
        .await;
    let refused = world.finish(&link).await;
    assert_eq!(refused.params["error_code"], "facebook_auth_failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_link_refreshes_the_token_of_the_same_phone() {
    let world = SignupWorld::new().await;
    let first = world.link(json!({})).await;
    let landing = world.finish(&first).await;
    let phone_id = landing.params["phone_number_id"].clone();

    let link = world.link(json!({ "reconnectPhoneNumberId": phone_id })).await;
    let state = world.state(&link).await;
    let code = world.finish_code().await;
    let again = world
        .callback(
            &link,
            &[
                ("state", &state),
                ("code", &code),
                ("event", "FINISH"),
                ("waba_id", COFFEE_WABA),
                ("phone_number_id", COFFEE_PHONE),
            ],
        )
        .await;
    assert_eq!(again.params["status"], "success", "{again:?}");
    assert_eq!(again.params["phone_number_id"], phone_id, "the same phone");
    let phone = world.get(&format!("/v1/phones/{phone_id}")).await["data"].clone();
    assert_eq!(phone["onboardingLinkId"], link.as_str());
    assert!(phone["reconnectedAt"].is_string());
    let events = world.get(&format!("/v1/phones/{phone_id}/events")).await;
    let types: Vec<_> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].clone())
        .collect();
    assert_eq!(
        types,
        [json!("phone_number.created"), json!("phone_number.reconnected")]
    );
    let payloads = world.all_payloads().await;
    assert_eq!(
        payloads.matches("phone_number.created").count(),
        1,
        "no new phone"
    );

    // A reconnect link for a number in another WABA is refused.
    let link = world.link(json!({ "reconnectPhoneNumberId": phone_id })).await;
    let state = world.state(&link).await;
    let code = world.code(json!({ "waba_id": BAKERY_WABA })).await;
    let wrong = world
        .callback(
            &link,
            &[
                ("state", &state),
                ("code", &code),
                ("event", "FINISH"),
                ("waba_id", BAKERY_WABA),
            ],
        )
        .await;
    assert_eq!(wrong.params["error_code"], "facebook_auth_failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_number_provisioned_in_the_flow_is_connected() {
    let world = SignupWorld::new().await;
    let link = world
        .link(json!({ "phoneProvisioning": { "enabled": true, "countries": ["BR"] } }))
        .await;
    let (meta_id, landing) = world.finish_with_new_number(&link, BAKERY_WABA, "BR").await;
    assert_eq!(landing.params["status"], "success", "{landing:?}");
    assert_eq!(landing.params["meta_phone_number_id"], meta_id);
    assert!(landing.params["display_phone_number"].starts_with("+55"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_number_onboarded_again_is_not_registered_again() {
    // Meta allows 10 registrations of a number per 72 hours (133016 after that). A number that
    // is still registered with our PIN needs no new one each time it comes back.
    let world = SignupWorld::new().await;
    let mut phone_ids = Vec::new();
    for n in 0..12 {
        let link = world
            .link(json!({ "externalId": format!("cus_again_{n}") }))
            .await;
        let landing = world.finish(&link).await;
        assert_eq!(landing.params["status"], "success", "onboarding {n}: {landing:?}");
        phone_ids.push(landing.params["phone_number_id"].clone());
    }
    assert!(
        phone_ids.iter().all(|id| *id == phone_ids[0]),
        "one phone: {phone_ids:?}"
    );
    let phone = world.get(&format!("/v1/phones/{}", phone_ids[0])).await;
    assert_eq!(phone["data"]["isRegistered"], true, "{phone}");
}
