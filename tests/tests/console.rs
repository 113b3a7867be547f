//! The organization console over HTTP: signing in and out, the session's cookie, CSRF on every
//! form, tenant isolation, and a link created in the console as the API then sees it.

use gangway_e2e::console::{field_value, ConsoleClient};
use gangway_e2e::{production_api_config, spawn_projector, wait_for_projection, TestApi};
use gangway_testkit::TestEnv;
use reqwest::Method;
use serde_json::Value;

async fn signed_in(api: &TestApi, key: &str) -> (ConsoleClient, String) {
    let console = ConsoleClient::new(&api.base_url);
    let answer = console.sign_in(key).await;
    assert_eq!(
        (answer.status, answer.location.as_deref()),
        (303, Some("/console")),
        "{}",
        answer.body
    );
    let overview = console.get("/console").await;
    assert_eq!(overview.status, 200, "{}", overview.body);
    let csrf = field_value(&overview.body, "csrf").expect("the page's forms carry the session's token");
    (console, csrf)
}

#[tokio::test]
async fn signing_in_exchanges_the_key_for_a_strict_cookie_and_signing_out_ends_it() {
    let env = TestEnv::new().await;
    let api = TestApi::spawn(&env).await;
    let (_, key) = api.create_org("Console").await;

    let console = ConsoleClient::new(&api.base_url);
    let before = console.get("/console").await;
    assert_eq!(
        (before.status, before.location.as_deref()),
        (303, Some("/console/login"))
    );
    let wrong = console.sign_in("sk_not_a_key").await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("does not work"), "{}", wrong.body);

    let answer = console.sign_in(&key).await;
    assert_eq!(answer.status, 303);
    let cookie = answer
        .cookies
        .iter()
        .find(|c| c.starts_with("gangway_console="))
        .expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console", "Max-Age="] {
        assert!(cookie.contains(attribute), "{cookie} has {attribute}");
    }
    assert!(!cookie.contains(&key), "the key itself never goes to the browser");
    let overview = console.get("/console").await;
    assert_eq!(overview.status, 200);
    assert!(overview.body.contains("<h1>Overview</h1>"));
    assert!(
        overview.body.contains("<svg role=\"img\""),
        "the funnel is drawn on the server"
    );
    let csp = api.http.get(api.url("/console/login")).send().await.unwrap();
    let csp = csp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("default-src 'none'")
            && csp.contains("script-src 'self';")
            && csp.contains("frame-ancestors 'none'"),
        "only the console's own script file runs: {csp}"
    );
    let script = api
        .http
        .get(api.url("/console/assets/console.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), 200);
    assert!(script.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));

    for page in [
        "/console/links",
        "/console/links/new",
        "/console/numbers",
        "/console/webhooks",
        "/console/api-keys",
    ] {
        let answer = console.get(page).await;
        assert_eq!(answer.status, 200, "{page}: {}", answer.body);
    }
    let unknown = console
        .get(&format!("/console/webhooks/{}", uuid::Uuid::new_v4()))
        .await;
    assert_eq!(unknown.status, 404);

    let csrf = field_value(&overview.body, "csrf").unwrap();
    let out = console.post("/console/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, 303);
    let after = console.get("/console").await;
    assert_eq!(after.status, 303, "signed out");
}

/// The `name=value` of the `Set-Cookie` for `name`, and the whole header.
fn set_cookie(answer: &reqwest::Response, name: &str) -> (String, String) {
    let header = answer
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("a {name} cookie"))
        .to_owned();
    (header.split(';').next().unwrap().to_owned(), header)
}

#[tokio::test]
async fn outside_development_every_console_cookie_is_secure() {
    let env = TestEnv::new().await;
    let api = TestApi::spawn_with(production_api_config(&env)).await;
    let (_, key) = api.create_org("Production").await;
    // A client that keeps no cookies: a browser would not send `Secure` ones back over http.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for console in ["/console", "/ops"] {
        let form = http
            .get(api.url(&format!("{console}/login")))
            .send()
            .await
            .unwrap();
        let (login, header) = set_cookie(&form, "gangway_login");
        assert!(header.contains("; Secure"), "{header}");
        let csrf = field_value(&form.text().await.unwrap(), "csrf").unwrap();
        let credential = if console == "/ops" {
            gangway_e2e::ADMIN_TOKEN
        } else {
            key.as_str()
        };
        let signed_in = http
            .post(api.url(&format!("{console}/login")))
            .header("cookie", login)
            .form(&[("csrf", csrf.as_str()), ("credential", credential)])
            .send()
            .await
            .unwrap();
        assert_eq!(signed_in.status(), 303, "{console}");
        let session = if console == "/ops" {
            "gangway_ops"
        } else {
            "gangway_console"
        };
        let (_, header) = set_cookie(&signed_in, session);
        for attribute in ["; Secure", "; HttpOnly", "; SameSite=Strict"] {
            assert!(header.contains(attribute), "{header} has {attribute}");
        }
    }
}

#[tokio::test]
async fn a_form_without_the_session_token_is_refused_and_changes_nothing() {
    let env = TestEnv::new().await;
    let api = TestApi::spawn(&env).await;
    let (_, key) = api.create_org("Forged").await;
    let (console, csrf) = signed_in(&api, &key).await;

    let forged = console
        .post(
            "/console/links",
            &[("name", "Forged"), ("externalId", "forged-1")],
        )
        .await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    let wrong = console
        .post("/console/links", &[("csrf", "not-the-token"), ("name", "Forged")])
        .await;
    assert_eq!(wrong.status, 403);
    let keys = console.post("/console/api-keys", &[("name", "forged key")]).await;
    assert_eq!(keys.status, 403);
    let out = console.post("/console/logout", &[]).await;
    assert_eq!(out.status, 403);
    // Nothing was created: the API lists the one key the organization was made with.
    let (_, listed) = api.call(Method::GET, "/v1/api-keys", &key, None).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "{listed}");
    let (status, _) = api
        .call(Method::GET, "/v1/customers?externalId=forged-1", &key, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(console.get("/console").await.status, 200, "still signed in");

    // The sign-in form needs its own token and cookie: another site cannot sign a browser in.
    let fresh = ConsoleClient::new(&api.base_url);
    let login = fresh
        .post("/console/login", &[("csrf", &csrf), ("credential", &key)])
        .await;
    assert_eq!(login.status, 403);
}

#[tokio::test]
async fn a_link_created_in_the_console_is_the_apis_link_and_another_organization_cannot_see_it() {
    let env = TestEnv::new().await;
    let api = TestApi::spawn(&env).await;
    let bus = env.bus().await;
    let projector = spawn_projector(&env, env.bus().await);
    let (_, key) = api.create_org("Acme").await;
    let (_, other_key) = api.create_org("Other").await;
    let (console, csrf) = signed_in(&api, &key).await;

    let created = console
        .post(
            "/console/links",
            &[
                ("csrf", &csrf),
                ("name", "Console customer"),
                ("externalId", "console-1"),
                ("redirectUrl", "https://app.example.com/done"),
                ("allowedConnectionTypes", "coexistence"),
                ("language", "es"),
                ("companyName", "Acme SaaS"),
                ("primaryColor", "#112233"),
                ("metadata", r#"{"plan": "pro"}"#),
                ("webhookUrl", "https://hooks.example.com/in"),
                ("webhookEvents", "phone_number.connected"),
                ("webhookEvents", "message.received"),
            ],
        )
        .await;
    assert_eq!(created.status, 303, "{}", created.body);
    let location = created.location.unwrap();
    let id = location
        .strip_prefix("/console/links/")
        .expect("the link's page")
        .to_owned();

    // The API gives back the link as the form described it.
    let (status, link) = api.get_link(&key, &id).await;
    assert_eq!(status, 200, "{link}");
    let data: &Value = &link["data"];
    assert_eq!(data["name"], "Console customer");
    assert_eq!(data["externalId"], "console-1");
    assert_eq!(data["language"], "es");
    assert_eq!(data["allowedConnectionTypes"], serde_json::json!(["coexistence"]));
    assert_eq!(data["theme"]["companyName"], "Acme SaaS");
    assert_eq!(data["metadata"]["plan"], "pro");
    assert_eq!(
        data["webhookEvents"],
        serde_json::json!(["phone_number.connected", "message.received"])
    );

    let page = console.get(&location).await;
    assert_eq!(page.status, 200);
    assert!(
        // As the browser reads it: the template escapes `/` in attribute values.
        page.body
            .replace("&#x2f;", "/")
            .contains(data["hostedUrl"].as_str().unwrap()),
        "the hosted URL to copy"
    );
    assert!(page.body.contains("onboarding_link.created"), "the audit trail");
    assert!(
        page.body.contains(r#""plan": "pro""#),
        "each event of the trail with its data: {}",
        page.body
    );
    wait_for_projection(&env, &bus).await;
    let list = console
        .get("/console/links?status=pending&external_id=console-1")
        .await;
    assert!(
        list.body.contains(&format!("/console/links/{id}")),
        "{}",
        list.body
    );
    let none = console.get("/console/links?status=completed").await;
    assert!(!none.body.contains(&format!("/console/links/{id}")));

    // A field the API refuses comes back on the form, naming the field, and creates nothing.
    let refused = console
        .post("/console/links", &[("csrf", &csrf), ("primaryColor", "blue")])
        .await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("theme.primaryColor"), "{}", refused.body);

    // Another organization's console knows nothing of the link.
    let (other, other_csrf) = signed_in(&api, &other_key).await;
    assert_eq!(other.get(&location).await.status, 404);
    assert_eq!(other.get("/console/links/not-an-id").await.status, 404);
    let delete = other
        .post(&format!("{location}/delete"), &[("csrf", &other_csrf)])
        .await;
    assert_eq!(delete.status, 404);
    assert!(!other.get("/console/links").await.body.contains(&id));

    // Its own organization deletes it.
    let delete = console
        .post(&format!("{location}/delete"), &[("csrf", &csrf)])
        .await;
    assert_eq!(delete.status, 303);
    assert_eq!(api.get_link(&key, &id).await.0, 404);
    projector.cancel();
}

#[tokio::test]
async fn a_key_issued_in_the_console_is_shown_once_and_revoking_a_key_ends_its_sessions() {
    let env = TestEnv::new().await;
    let api = TestApi::spawn(&env).await;
    let (_, key) = api.create_org("Keys").await;
    let (console, csrf) = signed_in(&api, &key).await;

    let issued = console
        .post("/console/api-keys", &[("csrf", &csrf), ("name", "ci")])
        .await;
    assert_eq!(issued.status, 200, "{}", issued.body);
    let marker = "id=\"issued\" class=\"secret\" readonly value=\"";
    let at = issued.body.find(marker).expect("the new key on the page") + marker.len();
    let new_key = issued.body[at..].split('"').next().unwrap().to_owned();
    let (status, _) = api.call(Method::GET, "/v1/api-keys", &new_key, None).await;
    assert_eq!(status, 200, "the issued key works");
    let again = console.get("/console/api-keys").await;
    assert!(!again.body.contains(&new_key), "shown once");

    // A second console session, signed in with the new key, ends when that key is revoked.
    let (second, _) = signed_in(&api, &new_key).await;
    let (_, keys) = api.call(Method::GET, "/v1/api-keys", &key, None).await;
    let new_id = keys["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "ci")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let revoked = console
        .post(&format!("/console/api-keys/{new_id}/revoke"), &[("csrf", &csrf)])
        .await;
    assert_eq!(revoked.status, 303);
    let ended = second.get("/console/links").await;
    assert_eq!(
        (ended.status, ended.location.as_deref()),
        (303, Some("/console/login?ended=1"))
    );
    assert_eq!(
        console.get("/console").await.status,
        200,
        "the other key's session goes on"
    );
}

#[tokio::test]
async fn the_operator_console_takes_the_admin_token_only_and_shows_every_organization() {
    let env = TestEnv::new().await;
    let api = TestApi::spawn(&env).await;
    let projector = spawn_projector(&env, env.bus().await);
    let bus = env.bus().await;
    let (_, key) = api.create_org("First tenant").await;
    api.create_org("Second tenant").await;
    wait_for_projection(&env, &bus).await;

    let operator = ConsoleClient::new(&api.base_url);
    let before = operator.get("/ops").await;
    assert_eq!(
        (before.status, before.location.as_deref()),
        (303, Some("/ops/login"))
    );
    assert_eq!(
        operator.sign_in_at("/ops", &key).await.status,
        401,
        "an API key is not the admin token"
    );
    // An organization's console session opens nothing here.
    let (tenant, _) = signed_in(&api, &key).await;
    assert_eq!(tenant.get("/ops").await.status, 303);

    let answer = operator.sign_in_at("/ops", gangway_e2e::ADMIN_TOKEN).await;
    assert_eq!((answer.status, answer.location.as_deref()), (303, Some("/ops")));
    let cookie = answer
        .cookies
        .iter()
        .find(|c| c.starts_with("gangway_ops="))
        .expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/ops"] {
        assert!(cookie.contains(attribute), "{cookie} has {attribute}");
    }
    assert!(!cookie.contains(gangway_e2e::ADMIN_TOKEN));
    let page = operator.get("/ops").await;
    assert_eq!(page.status, 200, "{}", page.body);
    for shown in [
        "First tenant",
        "Second tenant",
        "<h2>Relay</h2>",
        "Webhook queue",
        "Dead letters",
        "Signup funnel",
    ] {
        assert!(page.body.contains(shown), "the operator page shows {shown}");
    }
    assert_eq!(
        operator.get("/console").await.status,
        303,
        "the operator is no tenant"
    );

    let csrf = field_value(&page.body, "csrf").unwrap();
    assert_eq!(operator.post("/ops/logout", &[]).await.status, 403);
    assert_eq!(operator.post("/ops/logout", &[("csrf", &csrf)]).await.status, 303);
    assert_eq!(operator.get("/ops").await.status, 303, "signed out");
    projector.cancel();
}

/// The `href` of the page's "Older …" link (`what`: links, endpoints, …), as the browser reads it.
fn older(page: &str, what: &str) -> Option<String> {
    let end = page.find(&format!("\">Older {what}</a>"))?;
    let start = page[..end].rfind("href=\"")? + "href=\"".len();
    Some(page[start..end].replace("&#x2f;", "/").replace("&amp;", "&"))
}

#[tokio::test]
async fn the_links_pages_follow_one_another_to_the_last_link_keeping_the_filter() {
    let env = TestEnv::new().await;
    let api = TestApi::spawn(&env).await;
    let bus = env.bus().await;
    let projector = spawn_projector(&env, env.bus().await);
    let (_, key) = api.create_org("Many links").await;
    let mut created = std::collections::BTreeSet::new();
    for i in 0..60 {
        let (status, link) = api
            .create_link(&key, serde_json::json!({ "name": format!("Customer {i}") }))
            .await;
        assert_eq!(status, 201);
        created.insert(link["data"]["id"].as_str().unwrap().to_owned());
    }
    wait_for_projection(&env, &bus).await;
    let (console, _) = signed_in(&api, &key).await;

    let row = |id: &str| format!("/console/links/{id}\"");
    let (seen, paths) = walk(&console, "/console/links?status=pending", "links", row, &created).await;
    for path in &paths {
        assert!(path.contains("status=pending"), "the filter goes on: {path}");
    }
    let pages = paths.len();
    assert_eq!((pages, seen.len()), (2, 60), "every link once, 50 to a page");
    projector.cancel();
}

#[tokio::test]
async fn an_endpoint_is_disabled_enabled_and_its_secret_rotated_from_the_console() {
    let env = TestEnv::new().await;
    let api = TestApi::spawn(&env).await;
    let (_, key) = api.create_org("Endpoints").await;
    let (_, other_key) = api.create_org("Elsewhere").await;
    let body =
        serde_json::json!({ "url": "https://hooks.example.com/in", "events": ["phone_number.connected"] });
    let (status, endpoint) = api.call(Method::POST, "/v1/webhooks", &key, Some(body)).await;
    assert_eq!(status, 201, "{endpoint}");
    let id = endpoint["data"]["id"].as_str().unwrap().to_owned();
    let read = |path: String| {
        let (api, key) = (&api, &key);
        async move { api.call(Method::GET, &path, key, None).await.1 }
    };
    let secret_before = read(format!("/v1/webhooks/{id}/secret")).await;
    let (console, csrf) = signed_in(&api, &key).await;
    let page = console.get(&format!("/console/webhooks/{id}")).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("/disable\""),
        "an enabled endpoint offers Disable"
    );

    let disabled = console
        .post(&format!("/console/webhooks/{id}/disable"), &[("csrf", &csrf)])
        .await;
    assert_eq!(disabled.status, 303, "{}", disabled.body);
    let now = read(format!("/v1/webhooks/{id}")).await;
    assert_eq!(now["data"]["status"], "disabled", "{now}");
    assert_eq!(now["data"]["disabledReason"], "disabled in the console");

    assert_eq!(
        console
            .post(&format!("/console/webhooks/{id}/enable"), &[("csrf", &csrf)])
            .await
            .status,
        303
    );
    assert_eq!(
        read(format!("/v1/webhooks/{id}")).await["data"]["status"],
        "enabled"
    );

    let rotated = console
        .post(
            &format!("/console/webhooks/{id}/rotate-secret"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let secret_after = read(format!("/v1/webhooks/{id}/secret")).await;
    assert_ne!(secret_after, secret_before, "a new secret");
    assert_eq!(
        field_value(&rotated.body, "secret").as_deref(),
        secret_after["data"]["secret"].as_str(),
        "the page shows the new secret, as the API reads it"
    );
    assert_eq!(
        secret_after["data"]["previousSecret"], secret_before["data"]["secret"],
        "the old one signs beside it"
    );

    // A test event is queued for this endpoint, as the API's delivery log then reads it.
    let tested = console
        .post(&format!("/console/webhooks/{id}/test"), &[("csrf", &csrf)])
        .await;
    assert_eq!(tested.status, 303, "{}", tested.body);
    let log = read(format!("/v1/webhooks/{id}/messages")).await;
    assert_eq!(log["pagination"]["total"], 1, "{log}");
    assert_eq!(log["data"][0]["eventType"], "webhook.test");
    assert_eq!(log["data"][0]["payload"]["data"]["endpointId"], id.as_str());

    // Without the token, or from another organization, nothing changes.
    assert_eq!(
        console
            .post(&format!("/console/webhooks/{id}/disable"), &[])
            .await
            .status,
        403
    );
    let (other, other_csrf) = signed_in(&api, &other_key).await;
    let foreign = other
        .post(
            &format!("/console/webhooks/{id}/disable"),
            &[("csrf", &other_csrf)],
        )
        .await;
    assert_eq!(foreign.status, 404);
    assert_eq!(other.get(&format!("/console/webhooks/{id}")).await.status, 404);
    assert_eq!(
        console
            .post(&format!("/console/webhooks/{id}/explode"), &[("csrf", &csrf)])
            .await
            .status,
        404
    );
    assert_eq!(
        read(format!("/v1/webhooks/{id}")).await["data"]["status"],
        "enabled"
    );
}

/// A failed delivery, as a dispatcher records it after its last attempt (status 500).
async fn failed_delivery(env: &TestEnv, org: &str, endpoint: &str) -> uuid::Uuid {
    let message = uuid::Uuid::new_v4();
    sqlx::query(
        "INSERT INTO webhook_messages (id, organization_id, endpoint_id, event_id, event_type, body, occurred_at, status, attempts) \
         VALUES ($1, $2, $3, gen_random_uuid(), 'phone_number.connected', '{}', now(), 'failed', 1)",
    )
    .bind(message)
    .bind(org.parse::<uuid::Uuid>().unwrap())
    .bind(endpoint.parse::<uuid::Uuid>().unwrap())
    .execute(&env.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO webhook_attempts (message_id, attempted_at, status_code, latency_ms, response_excerpt) \
         VALUES ($1, now(), 500, 12, 'receiver fell over')",
    )
    .bind(message)
    .execute(&env.pool)
    .await
    .unwrap();
    message
}

#[tokio::test]
async fn a_failed_delivery_shows_its_attempt_and_is_retried_from_the_console() {
    let env = TestEnv::new().await;
    let api = TestApi::spawn(&env).await;
    let (org, key) = api.create_org("Deliveries").await;
    let (_, other_key) = api.create_org("Not theirs").await;
    let body =
        serde_json::json!({ "url": "https://hooks.example.com/in", "events": ["phone_number.connected"] });
    let (_, endpoint) = api.call(Method::POST, "/v1/webhooks", &key, Some(body)).await;
    let endpoint = endpoint["data"]["id"].as_str().unwrap().to_owned();
    let message = failed_delivery(&env, &org, &endpoint).await;
    let (console, csrf) = signed_in(&api, &key).await;

    let page = console.get(&format!("/console/webhooks/{endpoint}")).await;
    assert_eq!(page.status, 200);
    for shown in [
        "phone_number.connected",
        "failed",
        "<td>500</td>",
        "12 ms",
        "receiver fell over",
    ] {
        assert!(page.body.contains(shown), "the delivery shows {shown}");
    }
    let (other, other_csrf) = signed_in(&api, &other_key).await;
    let foreign = other
        .post(
            &format!("/console/messages/{message}/retry"),
            &[("csrf", &other_csrf)],
        )
        .await;
    assert_eq!(foreign.status, 404);
    assert_eq!(
        console
            .post(&format!("/console/messages/{message}/retry"), &[])
            .await
            .status,
        403
    );
    let (_, read) = api
        .call(Method::GET, &format!("/v1/messages/{message}"), &key, None)
        .await;
    assert_eq!(read["data"]["status"], "failed", "refused retries change nothing");

    let retried = console
        .post(&format!("/console/messages/{message}/retry"), &[("csrf", &csrf)])
        .await;
    assert_eq!(
        (retried.status, retried.location),
        (303, Some(format!("/console/webhooks/{endpoint}")))
    );
    let (_, read) = api
        .call(Method::GET, &format!("/v1/messages/{message}"), &key, None)
        .await;
    assert_eq!(read["data"]["status"], "pending", "queued again: {read}");

    // Recovery since a time queues every failed delivery of the endpoint since then.
    let recover = format!("/console/webhooks/{endpoint}/recover");
    let later = failed_delivery(&env, &org, &endpoint).await;
    let since = (chrono::Utc::now() - chrono::Duration::hours(1))
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    assert_eq!(console.post(&recover, &[("since", &since)]).await.status, 403);
    let foreign = other
        .post(&recover, &[("csrf", &other_csrf), ("since", &since)])
        .await;
    assert_eq!(foreign.status, 404);
    let unreadable = console
        .post(&recover, &[("csrf", &csrf), ("since", "yesterday")])
        .await;
    assert_eq!(unreadable.status, 422);
    assert!(unreadable.body.contains("since"), "{}", unreadable.body);
    let (_, read) = api
        .call(Method::GET, &format!("/v1/messages/{later}"), &key, None)
        .await;
    assert_eq!(
        read["data"]["status"], "failed",
        "refused recoveries change nothing"
    );
    let recovered = console
        .post(&recover, &[("csrf", &csrf), ("since", &since)])
        .await;
    assert_eq!(recovered.status, 200, "{}", recovered.body);
    assert!(
        recovered.body.contains("1 failed delivery since"),
        "{}",
        recovered.body
    );
    let (_, read) = api
        .call(Method::GET, &format!("/v1/messages/{later}"), &key, None)
        .await;
    assert_eq!(read["data"]["status"], "pending", "recovered: {read}");
}

/// Follows a console list from `first` through its "Older …" links: the `ids` whose row
/// (`row(id)`) some page showed, each on one page only, and the pages' paths.
async fn walk(
    console: &ConsoleClient,
    first: &str,
    what: &str,
    row: impl Fn(&str) -> String,
    ids: &std::collections::BTreeSet<String>,
) -> (std::collections::BTreeSet<String>, Vec<String>) {
    let mut seen = std::collections::BTreeSet::new();
    let mut page = Some(first.to_owned());
    let mut paths = Vec::new();
    while let Some(path) = page {
        let answer = console.get(&path).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
        paths.push(path);
        for id in ids {
            if answer.body.contains(&row(id)) {
                assert!(seen.insert(id.clone()), "{id} shown twice");
            }
        }
        page = older(&answer.body, what);
    }
    (seen, paths)
}

#[tokio::test]
async fn endpoints_and_organizations_page_by_keyset_to_the_last_one() {
    let env = TestEnv::new().await;
    let api = TestApi::spawn(&env).await;
    let bus = env.bus().await;
    let projector = spawn_projector(&env, env.bus().await);
    let (first_org, key) = api.create_org("Many endpoints").await;
    let mut endpoints = std::collections::BTreeSet::new();
    for i in 0..55 {
        let body = serde_json::json!({ "url": format!("https://hooks.example.com/{i}"), "events": ["message.sent"] });
        let (status, created) = api.call(Method::POST, "/v1/webhooks", &key, Some(body)).await;
        assert_eq!(status, 201, "{created}");
        endpoints.insert(created["data"]["id"].as_str().unwrap().to_owned());
    }
    let mut organizations = std::collections::BTreeSet::from([first_org]);
    for i in 0..104 {
        organizations.insert(api.create_org(&format!("Tenant {i}")).await.0);
    }
    wait_for_projection(&env, &bus).await;

    let (console, _) = signed_in(&api, &key).await;
    let (seen, pages) = walk(
        &console,
        "/console/webhooks",
        "endpoints",
        |id| format!("/console/webhooks/{id}\""),
        &endpoints,
    )
    .await;
    assert_eq!(
        (pages.len(), seen.len()),
        (2, 55),
        "every endpoint once, 50 to a page"
    );

    let operator = ConsoleClient::new(&api.base_url);
    assert_eq!(
        operator.sign_in_at("/ops", gangway_e2e::ADMIN_TOKEN).await.status,
        303
    );
    let (seen, pages) = walk(
        &operator,
        "/ops",
        "organizations",
        |id| format!("<code>{id}</code>"),
        &organizations,
    )
    .await;
    assert_eq!(
        (pages.len(), seen.len()),
        (2, 105),
        "every organization once, 100 to a page"
    );
    projector.cancel();
}

#[tokio::test]
async fn the_overview_funnel_counts_how_far_each_link_got() {
    let world = gangway_e2e::signup::SignupWorld::new().await;
    let bus = world.env.bus().await;
    let projector = spawn_projector(&world.env, world.env.bus().await);
    // One link never opened, one opened only, one whose person cancelled in Meta's dialog, one
    // whose code Meta refused (a callback whose failure names no step), one completed.
    let _untouched = world.link(serde_json::json!({})).await;
    let opened = world.link(serde_json::json!({})).await;
    world.open(&opened).await;
    let cancelled = world.link(serde_json::json!({})).await;
    world.open(&cancelled).await;
    world.cancel(&cancelled, "PHONE_NUMBER_SETUP").await;
    let refused = world.link(serde_json::json!({})).await;
    world.open(&refused).await;
    let state = world.state(&refused).await;
    let fields = [
        ("state", state.as_str()),
        ("code", "a-code-meta-never-issued"),
        ("event", "FINISH"),
        ("waba_id", gangway_e2e::signup::COFFEE_WABA),
        ("phone_number_id", gangway_e2e::signup::COFFEE_PHONE),
    ];
    world.callback(&refused, &fields).await;
    let completed = world.link(serde_json::json!({})).await;
    world.open(&completed).await;
    world.finish(&completed).await;
    wait_for_projection(&world.env, &bus).await;

    let (console, _) = signed_in(&world.api, &world.key).await;
    let overview = console.get("/console").await;
    for days in [7, 30] {
        let funnel =
            format!("Links by how far they got ({days} days): created 5, opened 4, callback 3, completed 1");
        assert!(overview.body.contains(&funnel), "{funnel}\n{}", overview.body);
    }
    assert!(
        overview
            .body
            .contains("Failures by signup step (7 days): PHONE_NUMBER_SETUP 1"),
        "{}",
        overview.body
    );
    projector.cancel();
}
