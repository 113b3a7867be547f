//! The hosted page `/signup/{id}` over HTTP: what it renders, what opening it records, and how a
//! link that cannot be used answers.

use gangway_e2e::signup::SignupWorld;
use serde_json::json;
use std::time::Duration;

/// The page's text as a person reads it: tags dropped, entities decoded, spaces collapsed.
fn readable(html: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text.replace("&amp;", "&").replace("&#x27;", "'");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_says_which_company_asks_and_what_it_will_get() {
    let world = SignupWorld::new().await;
    let cases = [
        (
            "en",
            "Acme SaaS asks you to connect your WhatsApp Business number",
            "What will be shared",
        ),
        (
            "es",
            "Acme SaaS te pide conectar tu número de WhatsApp Business",
            "Qué se compartirá",
        ),
        (
            "pt",
            "Acme SaaS pede que você conecte seu número do WhatsApp Business",
            "O que será compartilhado",
        ),
    ];
    for (language, heading, shared) in cases {
        let link = world
            .link(json!({ "language": language, "theme": { "companyName": "Acme SaaS", "primaryColor": "#ffeb3b" } }))
            .await;
        let page = world.open(&link).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let text = readable(&page.body);
        assert!(text.contains(heading), "{language}: {text}");
        assert!(text.contains(shared), "{language}: {text}");
        let intro = text.split(heading).nth(1).unwrap_or_default();
        assert!(
            intro.trim_start().starts_with(match language {
                "en" => "Sign in with Facebook",
                "es" => "Inicia sesión con Facebook",
                _ => "Entre com o Facebook",
            }),
            "{language}: {text}"
        );
        assert!(
            intro.contains("Acme SaaS"),
            "the explanation names the company too: {text}"
        );
        // A light theme colour gets black text on it, and is not used as text on white.
        assert!(
            page.body
                .contains("--primary: #ffeb3b; --on-primary: #000000; --primary-ink: #1f2328;"),
            "{}",
            page.body
        );
    }

    // A link that names no company keeps the plain heading, on the default colour.
    let plain = world.link(json!({})).await;
    let text = readable(&world.open(&plain).await.body);
    assert!(text.contains("Connect your WhatsApp Business number"), "{text}");
    assert!(!text.contains("asks you"), "{text}");
    assert!(world.open(&plain).await.body.contains("--on-primary: #ffffff"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_speaks_the_links_language_and_wears_its_theme() {
    let world = SignupWorld::new().await;
    let link = world
        .link(json!({
            "language": "es",
            "theme": {
                "primaryColor": "#aa3300",
                "logoUrl": "https://cdn.example.com/logo.png",
                "backgroundImage": "https://cdn.example.com/bg.jpg",
                "companyName": "<script>alert(1)</script> Café"
            },
            "phoneProvisioning": { "enabled": true, "countries": ["BR", "MX"] }
        }))
        .await;
    let response = world
        .browser
        .get(world.api.url(&format!("/signup/{link}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["referrer-policy"], "same-origin");
    assert_eq!(headers["x-frame-options"], "DENY");
    // minijinja escapes `/` in HTML as `&#x2f;`; browsers decode it, and so does this test.
    let page = response.text().await.unwrap().replace("&#x2f;", "/");

    assert!(page.contains(r#"<html lang="es">"#));
    assert!(page.contains(
        "&lt;script&gt;alert(1)&lt;/script&gt; Café te pide conectar tu número de WhatsApp Business</h1>"
    ));
    assert!(page.contains("Qué se compartirá"));
    assert!(page.contains("Continuar con Facebook"));
    assert!(page.contains("--primary: #aa3300; --on-primary: #ffffff; --primary-ink: #aa3300;"));
    assert!(page.contains(r#"src="https://cdn.example.com/logo.png""#));
    assert!(page.contains("https://cdn.example.com/bg.jpg"));
    assert!(!page.contains("<script>alert(1)</script>"), "text is escaped");
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt; Café"));

    // Both connection types are allowed by default: both buttons.
    assert!(page.contains(r#"id="continue""#) && page.contains(r#"id="continue-coexistence""#));
    // The SDK and the exact message origin are the sandbox's; provisioning countries ride in setup.
    let sandbox = &world.sandbox.base_url;
    assert!(page.contains(&format!(r#"src="{sandbox}/en_US/sdk.js""#)));
    assert!(
        page.contains(&format!(r#""messageOrigins":["{sandbox}"]"#)),
        "{page}"
    );
    assert!(page.contains(r#""phoneProvisioning":{"countries":["BR","MX"]}"#));
    assert!(page.contains(r#""appId":"1234567890""#));
    // Only scripts carrying this response's nonce run; the SDK's frames may come from the sandbox.
    let policy = headers["content-security-policy"].to_str().unwrap();
    let nonce = policy
        .split_once("'nonce-")
        .and_then(|(_, rest)| rest.split_once('\''))
        .map(|(nonce, _)| nonce)
        .expect("a script nonce");
    assert!(nonce.len() >= 22, "{nonce}");
    let executable = page.matches("<script").count() - page.matches(r#"type="application/json""#).count();
    assert_eq!(
        page.matches(&format!(r#"nonce="{nonce}""#)).count(),
        executable,
        "{page}"
    );
    for directive in ["object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"] {
        assert!(policy.contains(directive), "{policy}");
    }
    assert!(policy.contains(&format!("frame-src {sandbox}")), "{policy}");
    let again = world
        .browser
        .get(world.api.url(&format!("/signup/{link}")))
        .send()
        .await
        .unwrap();
    let again = again.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(!again.contains(nonce), "a new nonce for every response");
    // The full-page fallback carries the redirect_uri the exchange will repeat.
    let return_uri = format!("{}/signup/{link}/return", world.api.state.config.public_url());
    let encoded: String = url::form_urlencoded::byte_serialize(return_uri.as_bytes()).collect();
    assert!(page.contains(&format!("redirect_uri={encoded}")), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_records_the_first_visit_once() {
    let world = SignupWorld::new().await;
    let link = world
        .link(json!({ "allowedConnectionTypes": ["dedicated"] }))
        .await;
    let first = world.open(&link).await;
    assert_eq!(first.status, 200);
    assert!(
        !first.body.contains(r#"id="continue-coexistence""#),
        "dedicated only"
    );
    let used_at = world.get(&format!("/v1/onboarding-links/{link}")).await["data"]["usedAt"].clone();
    assert!(used_at.is_string());
    world.open(&link).await;
    world.open(&link).await;
    assert_eq!(
        world.link_event_types(&link).await,
        ["onboarding_link.created", "onboarding_link.opened"]
    );
    let again = world.get(&format!("/v1/onboarding-links/{link}")).await["data"]["usedAt"].clone();
    assert_eq!(again, used_at);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_that_cannot_be_used_redirect_with_their_code_or_say_why() {
    let world = SignupWorld::new().await;

    // Revoked by a newer link for the same customer: to the failure URL with link_revoked.
    let first = world.link(json!({ "externalId": "cus_1" })).await;
    world.link(json!({ "externalId": "cus_1" })).await;
    let revoked = world.open(&first).await;
    assert_eq!(revoked.status, 303);
    assert_eq!(revoked.params["status"], "error");
    assert_eq!(revoked.params["error_code"], "link_revoked");
    assert_eq!(revoked.params["onboarding_link_id"], first);

    // Without redirect URLs the page itself says so.
    let (status, body) = world
        .api
        .create_link(&world.key, json!({ "externalId": "cus_2", "language": "pt" }))
        .await;
    assert_eq!(status, 201);
    let lonely = body["data"]["id"].as_str().unwrap().to_owned();
    world.link(json!({ "externalId": "cus_2" })).await;
    let page = world.open(&lonely).await;
    assert_eq!(page.status, 410);
    assert!(page.body.contains(r#"data-code="link_revoked""#));
    assert!(page.body.contains("Este link foi substituído"), "{}", page.body);

    // Expired: checked on use, recorded once, before any sweep.
    let expires_at = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    let expiring = world.link(json!({ "expiresAt": expires_at })).await;
    tokio::time::sleep(Duration::from_millis(1700)).await;
    let expired = world.open(&expiring).await;
    assert_eq!(expired.params["error_code"], "link_expired");
    world.open(&expiring).await;
    assert_eq!(
        world.link_event_types(&expiring).await,
        ["onboarding_link.created", "onboarding_link.expired"]
    );

    // Deleted: as if it never existed.
    let deleted = world.link(json!({})).await;
    let (status, _) = world
        .api
        .call(
            reqwest::Method::DELETE,
            &format!("/v1/onboarding-links/{deleted}"),
            &world.key,
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(world.open(&deleted).await.status, 404);
    assert_eq!(world.open("not-a-uuid").await.status, 404);
}
