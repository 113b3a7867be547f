//! The onboarding-links API over real HTTP: happy paths, rules and tenant isolation.

use chrono::{Duration as Days, Utc};
use gangway_e2e::{spawn_projector, wait_for_projection, TestApi};
use gangway_testkit::TestEnv;
use reqwest::Method;
use serde_json::{json, Value};

/// The request from the onboarding-links product's own documentation example.
fn full_request() -> Value {
    json!({
        "name": "Acme Corp",
        "externalId": "acme-123",
        "successRedirectUrl": "https://app.example.com/whatsapp/success",
        "failureRedirectUrl": "https://app.example.com/whatsapp/failure",
        "expiresAt": (Utc::now() + Days::days(3)).to_rfc3339(),
        "allowedConnectionTypes": ["dedicated", "coexistence"],
        "theme": {
            "primaryColor": "#1A73E8",
            "backgroundImage": "https://cdn.example.com/bg.png",
            "logoUrl": "https://cdn.example.com/logo.png",
            "companyName": "Example SaaS"
        },
        "language": "es",
        "phoneProvisioning": { "enabled": true, "countries": ["US", "br"] },
        "metadata": { "plan": "pro", "seats": 5 },
        "webhookUrl": "https://hooks.example.com/whatsapp",
        "webhookSecret": "a-very-long-webhook-secret",
        "webhookEvents": ["phone_number.connected", "message.received", "message.sent"]
    })
}

#[tokio::test]
async fn a_created_link_is_pending_with_every_option_and_reads_back_at_once() {
    let env = TestEnv::new().await;
    let api = TestApi::spawn(&env).await;
    let (_, key) = api.create_org("Example SaaS").await;

    let (status, body) = api.create_link(&key, full_request()).await;
    assert_eq!(status, 201, "{body}");
    let link = &body["data"];
    let id = link["id"].as_str().unwrap();
    assert_eq!(link["status"], "pending");
    assert_eq!(link["hostedUrl"], format!("http://127.0.0.1:8080/signup/{id}"));
    assert_eq!(link["externalId"], "acme-123");
    assert!(
        link["customerId"].is_string(),
        "a customer is created for the external id"
    );
    assert_eq!(link["theme"]["primaryColor"], "#1a73e8");
    assert_eq!(link["language"], "es");
    assert_eq!(link["phoneProvisioning"]["countries"], json!(["US", "BR"]));
    assert_eq!(
        link["allowedConnectionTypes"],
        json!(["dedicated", "coexistence"])
    );
    assert_eq!(link["metadata"]["seats"], 5);
    assert_eq!(
        link["webhookEvents"],
        json!(["phone_number.connected", "message.received", "message.sent"])
    );
    for empty in [
        "usedAt",
        "completedAt",
        "phoneNumberId",
        "phoneNumber",
        "wabaId",
        "isPhoneRegistered",
    ] {
        assert!(link[empty].is_null(), "{empty} is null before completion");
    }
    assert!(
        !body.to_string().contains("a-very-long-webhook-secret"),
        "the secret is never returned"
    );

    let (status, fetched) = api.get_link(&key, id).await;
    assert_eq!(status, 200);
    assert_eq!(fetched["data"], body["data"]);

    let (status, trail) = api.link_events(&key, id).await;
    assert_eq!(status, 200);
    assert_eq!(trail["data"][0]["type"], "onboarding_link.created");
    assert_eq!(trail["data"][0]["version"], 1);
    assert!(trail["data"][0]["data"]["webhook"]["secretRef"].is_string());
    assert!(
        !trail.to_string().contains("a-very-long-webhook-secret"),
        "events carry a reference only"
    );
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE payload::text LIKE '%a-very-long-webhook-secret%'",
    )
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert_eq!(stored, 0);
}

#[tokio::test]
async fn a_minimal_link_gets_the_defaults() {
    let env = TestEnv::new().await;
    let api = TestApi::spawn(&env).await;
    let (_, key) = api.create_org("Minimal").await;
    let before = Utc::now();
    let (status, body) = api.create_link(&key, json!({})).await;
    assert_eq!(status, 201, "{body}");
    let expires: chrono::DateTime<Utc> = body["data"]["expiresAt"].as_str().unwrap().parse().unwrap();
    assert!(expires >= before + Days::days(7) && expires <= Utc::now() + Days::days(7));
    assert_eq!(body["data"]["language"], "en");
    assert!(body["data"]["customerId"].is_null());
}

#[tokio::test]
async fn every_validation_rule_answers_422_naming_the_field() {
    let env = TestEnv::new().await;
    let api = TestApi::spawn(&env).await;
    let (_, key) = api.create_org("Validation").await;
    let past = (Utc::now() - Days::minutes(1)).to_rfc3339();
    let too_far = (Utc::now() + Days::days(31)).to_rfc3339();
    let cases: Vec<(Value, &str)> = vec![
        (json!({"redirectUrl": "not a url"}), "redirectUrl"),
        (
            json!({"successRedirectUrl": "ftp://x.example.com"}),
            "successRedirectUrl",
        ),
        (
            json!({"failureRedirectUrl": "https://user:pw@x.example.com"}),
            "failureRedirectUrl",
        ),
        (json!({"expiresAt": past}), "expiresAt"),
        (json!({"expiresAt": too_far}), "expiresAt"),
        (json!({"expiresAt": "tomorrow"}), "expiresAt"),
        (json!({"allowedConnectionTypes": []}), "allowedConnectionTypes"),
        (
            json!({"allowedConnectionTypes": ["dedicated", "shared"]}),
            "allowedConnectionTypes[1]",
        ),
        (json!({"theme": {"primaryColor": "blue"}}), "theme.primaryColor"),
        (json!({"theme": {"logoUrl": "logo.png"}}), "theme.logoUrl"),
        (
            json!({"theme": {"backgroundImage": "javascript:alert(1)"}}),
            "theme.backgroundImage",
        ),
        (json!({"theme": {"companyName": "   "}}), "theme.companyName"),
        (json!({"language": "fr"}), "language"),
        (
            json!({"phoneProvisioning": {"enabled": true, "countries": ["US", "XX"]}}),
            "phoneProvisioning.countries[1]",
        ),
        (
            json!({"phoneProvisioning": {"enabled": true, "countries": []}}),
            "phoneProvisioning.countries",
        ),
        (json!({"metadata": [1, 2]}), "metadata"),
        (json!({"metadata": {"big": "x".repeat(17 * 1024)}}), "metadata"),
        (json!({"webhookUrl": "https://h.example.com"}), "webhookEvents"),
        (
            json!({"webhookUrl": "https://h.example.com", "webhookEvents": ["phone_number.exploded"]}),
            "webhookEvents[0]",
        ),
        (
            json!({"webhookUrl": "https://h.example.com", "webhookEvents": ["message.sent"], "webhookSecret": "short"}),
            "webhookSecret",
        ),
        (
            json!({"webhookUrl": "https://h.example.com", "webhookEvents": ["message.sent"], "webhookSecret": "s".repeat(257)}),
            "webhookSecret",
        ),
        (
            json!({"webhookUrl": "nope", "webhookEvents": ["message.sent"]}),
            "webhookUrl",
        ),
        (json!({"webhookSecret": "a-long-enough-secret"}), "webhookSecret"),
        (json!({"webhookEvents": ["message.sent"]}), "webhookEvents"),
        (json!({"name": "x".repeat(201)}), "name"),
        (json!({"externalId": ""}), "externalId"),
        (json!({"customerId": "not-a-uuid"}), "customerId"),
        (json!({"customerId": uuid::Uuid::now_v7()}), "customerId"),
        (json!({"reconnectPhoneNumberId": 42}), "reconnectPhoneNumberId"),
        (json!({"theme": "dark"}), "theme"),
    ];
    for (body, field) in cases {
        let (status, error) = api.create_link(&key, body.clone()).await;
        assert_eq!(status, 422, "{body} → {error}");
        assert_eq!(error["error"]["code"], "validation_failed", "{body}");
        assert_eq!(error["error"]["field"], field, "{body} → {error}");
        assert!(error["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE stream_type = 'onboarding_link'")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(count, 0, "no rejected request leaves an event");
}

#[tokio::test]
async fn malformed_or_oversized_bodies_get_our_error_shape() {
    let env = TestEnv::new().await;
    let api = TestApi::spawn(&env).await;
    let (_, key) = api.create_org("Bodies").await;
    let send = |body: String| {
        api.http
            .post(api.url("/v1/onboarding-links"))
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    for (body, status, code) in [
        ("{\"name\": ".to_owned(), 400, "invalid_json"),
        ("not json".to_owned(), 400, "invalid_json"),
        ("{} trailing".to_owned(), 400, "invalid_json"),
        ("[]".to_owned(), 422, "validation_failed"),
        (
            format!("{{\"name\": \"{}\"}}", "x".repeat(70 * 1024)),
            413,
            "payload_too_large",
        ),
    ] {
        let response = send(body.clone()).await.unwrap();
        assert_eq!(
            response.status().as_u16(),
            status,
            "{}",
            &body[..body.len().min(40)]
        );
        let json: Value = response.json().await.unwrap();
        assert_eq!(json["error"]["code"], code);
    }
    let (status, body) = api
        .call(Method::GET, "/v1/onboarding-links?page=1&page=2", &key, None)
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (422, Some("query")),
        "{body}"
    );
    let (status, body) = api.call(Method::GET, "/v1/nothing-here", &key, None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")));
}

#[tokio::test]
async fn requests_without_a_valid_api_key_are_unauthorized() {
    let env = TestEnv::new().await;
    let api = TestApi::spawn(&env).await;
    let (_, key) = api.create_org("Auth").await;
    let forged = format!("{}{}", &key[..key.len() - 4], "0000");
    for presented in ["", "sk_short", "Bearer", forged.as_str(), "dev-admin-token"] {
        let (status, body) = api
            .call(Method::GET, "/v1/onboarding-links", presented, None)
            .await;
        assert_eq!(status, 401, "key {presented:?}");
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    let response = api
        .http
        .get(api.url("/v1/onboarding-links"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);

    let no_admin = api
        .http
        .post(api.url("/admin/organizations"))
        .bearer_auth(&key)
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(no_admin.status(), 401, "an API key is not an admin token");
    let (status, body) = api
        .call(
            Method::POST,
            "/admin/organizations",
            gangway_e2e::ADMIN_TOKEN,
            Some(json!({})),
        )
        .await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("name")));
    let keys: Vec<Vec<u8>> = sqlx::query_scalar("SELECT key_hash FROM api_keys")
        .fetch_all(&env.pool)
        .await
        .unwrap();
    assert!(
        keys.iter()
            .all(|h| h.len() == 32 && !String::from_utf8_lossy(h).contains("sk_")),
        "keys are stored hashed"
    );
}

#[tokio::test]
async fn another_organizations_link_is_not_found_anywhere() {
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    let projector = spawn_projector(&env, bus.clone());
    let api = TestApi::spawn(&env).await;
    let (_, owner) = api.create_org("Owner").await;
    let (_, other) = api.create_org("Other").await;
    let (_, body) = api.create_link(&owner, json!({"externalId": "c1"})).await;
    let id = body["data"]["id"].as_str().unwrap().to_owned();
    let customer = body["data"]["customerId"].as_str().unwrap().to_owned();

    for (method, path) in [
        (Method::GET, format!("/v1/onboarding-links/{id}")),
        (Method::DELETE, format!("/v1/onboarding-links/{id}")),
        (Method::GET, format!("/v1/onboarding-links/{id}/events")),
        (Method::GET, format!("/v1/customers/{customer}")),
        (Method::GET, "/v1/onboarding-links/not-a-uuid".to_owned()),
    ] {
        let (status, body) = api.call(method.clone(), &path, &other, None).await;
        assert_eq!(status, 404, "{method} {path}");
        assert_eq!(body["error"]["code"], "not_found");
    }
    let (_, found) = api
        .call(Method::GET, "/v1/customers?externalId=c1", &other, None)
        .await;
    assert_eq!(found["data"], json!([]));

    wait_for_projection(&env, &bus).await;
    let (_, list) = api.call(Method::GET, "/v1/onboarding-links", &other, None).await;
    assert_eq!(list["pagination"]["total"], 0);
    let (_, list) = api.call(Method::GET, "/v1/onboarding-links", &owner, None).await;
    assert_eq!(list["pagination"]["total"], 1);
    let (status, _) = api.get_link(&owner, &id).await;
    assert_eq!(
        status, 200,
        "the failed delete by another organization changed nothing"
    );
    projector.cancel();
}

#[tokio::test]
async fn a_new_link_for_a_customer_revokes_its_pending_link() {
    let env = TestEnv::new().await;
    let api = TestApi::spawn(&env).await;
    let (_, key) = api.create_org("Revoker").await;
    let create = |ext: &str| api.create_link(&key, json!({"externalId": ext}));
    let (_, first) = create("cust-1").await;
    let (_, unrelated) = create("cust-2").await;
    let (_, second) = create("cust-1").await;
    let first_id = first["data"]["id"].as_str().unwrap();
    assert_eq!(
        first["data"]["customerId"], second["data"]["customerId"],
        "one customer per external id"
    );

    let (_, old) = api.get_link(&key, first_id).await;
    assert_eq!(old["data"]["status"], "revoked");
    assert_eq!(old["data"]["supersededBy"], second["data"]["id"]);
    let (_, trail) = api.link_events(&key, first_id).await;
    let types: Vec<&str> = trail["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, vec!["onboarding_link.created", "onboarding_link.revoked"]);

    for other in [&second, &unrelated] {
        let id = other["data"]["id"].as_str().unwrap();
        let (_, link) = api.get_link(&key, id).await;
        assert_eq!(link["data"]["status"], "pending");
    }
    let (status, customers) = api
        .call(Method::GET, "/v1/customers?externalId=cust-1", &key, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(customers["data"][0]["id"], first["data"]["customerId"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_links_for_one_customer_leave_exactly_one_pending() {
    let env = TestEnv::new().await;
    let api = std::sync::Arc::new(TestApi::spawn(&env).await);
    let (_, key) = api.create_org("Racer").await;
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (api, key) = (api.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            api.create_link(&key, json!({"externalId": "same"})).await
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        let (status, body) = task.await.unwrap();
        assert_eq!(status, 201, "{body}");
        ids.push(body["data"]["id"].as_str().unwrap().to_owned());
    }
    let mut pending = 0;
    for id in &ids {
        let (_, link) = api.get_link(&key, id).await;
        match link["data"]["status"].as_str().unwrap() {
            "pending" => pending += 1,
            "revoked" => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(pending, 1);
    let customers: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'customer.created'")
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert_eq!(customers, 1);
}

#[tokio::test]
async fn only_pending_links_can_be_deleted() {
    let env = TestEnv::new().await;
    let api = TestApi::spawn(&env).await;
    let (_, key) = api.create_org("Deleter").await;
    let create = |ext: &str| api.create_link(&key, json!({"externalId": ext}));
    let (_, pending) = create("a").await;
    let id = pending["data"]["id"].as_str().unwrap();
    let (status, _) = api
        .call(Method::DELETE, &format!("/v1/onboarding-links/{id}"), &key, None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = api.get_link(&key, id).await;
    assert_eq!(status, 404, "a deleted link is gone");
    let (status, _) = api
        .call(Method::DELETE, &format!("/v1/onboarding-links/{id}"), &key, None)
        .await;
    assert_eq!(status, 404);
    let (_, trail) = api.link_events(&key, id).await;
    assert_eq!(
        trail["data"][1]["type"], "onboarding_link.deleted",
        "the audit trail keeps the deletion"
    );

    let (_, revoked) = create("b").await;
    create("b").await;
    let revoked_id = revoked["data"]["id"].as_str().unwrap();
    let (status, body) = api
        .call(
            Method::DELETE,
            &format!("/v1/onboarding-links/{revoked_id}"),
            &key,
            None,
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(body["error"]["code"], "link_not_pending");
}

#[tokio::test]
async fn links_are_listed_newest_first_with_filters_and_pagination() {
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    let projector = spawn_projector(&env, bus.clone());
    let api = TestApi::spawn(&env).await;
    let (_, key) = api.create_org("Lister").await;
    let mut created = Vec::new();
    for ext in ["a", "b", "c", "a"] {
        let (_, body) = api.create_link(&key, json!({"externalId": ext})).await;
        created.push(body["data"].clone());
    }
    wait_for_projection(&env, &bus).await;

    let (_, all) = api
        .call(Method::GET, "/v1/onboarding-links?limit=2", &key, None)
        .await;
    assert_eq!(all["pagination"], json!({"page": 1, "limit": 2, "total": 4}));
    assert_eq!(all["data"][0]["id"], created[3]["id"], "newest first");
    let (_, page2) = api
        .call(Method::GET, "/v1/onboarding-links?limit=2&page=2", &key, None)
        .await;
    assert_eq!(page2["data"][1]["id"], created[0]["id"]);

    let (_, revoked) = api
        .call(Method::GET, "/v1/onboarding-links?status=revoked", &key, None)
        .await;
    assert_eq!(revoked["pagination"]["total"], 1);
    assert_eq!(revoked["data"][0]["id"], created[0]["id"]);
    let (_, pending) = api
        .call(Method::GET, "/v1/onboarding-links?status=pending", &key, None)
        .await;
    assert_eq!(pending["pagination"]["total"], 3);
    let (_, by_ext) = api
        .call(Method::GET, "/v1/onboarding-links?externalId=a", &key, None)
        .await;
    assert_eq!(by_ext["pagination"]["total"], 2);
    let customer = created[1]["customerId"].as_str().unwrap();
    let (_, by_customer) = api
        .call(
            Method::GET,
            &format!("/v1/onboarding-links?customerId={customer}"),
            &key,
            None,
        )
        .await;
    assert_eq!(by_customer["data"][0]["id"], created[1]["id"]);
    assert_eq!(
        by_customer["data"][0], created[1],
        "list and create show the same link"
    );

    for (query, field) in [
        ("page=0", "page"),
        ("limit=101", "limit"),
        ("limit=x", "limit"),
        ("status=open", "status"),
        ("customerId=1", "customerId"),
    ] {
        let (status, body) = api
            .call(Method::GET, &format!("/v1/onboarding-links?{query}"), &key, None)
            .await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (422, Some(field)),
            "{query}"
        );
    }
    projector.cancel();
}

#[tokio::test]
async fn customers_are_created_found_by_external_id_and_fetched() {
    let env = TestEnv::new().await;
    let api = TestApi::spawn(&env).await;
    let (_, key) = api.create_org("Customers").await;
    let (status, body) = api
        .call(
            Method::POST,
            "/v1/customers",
            &key,
            Some(json!({"name": "Acme", "externalId": "acme", "metadata": {"tier": 1}})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["data"]["id"].as_str().unwrap();
    let (_, fetched) = api
        .call(Method::GET, &format!("/v1/customers/{id}"), &key, None)
        .await;
    assert_eq!(fetched["data"], body["data"]);
    let (_, found) = api
        .call(Method::GET, "/v1/customers?externalId=acme", &key, None)
        .await;
    assert_eq!(found["data"][0]["id"], id);
    let (_, padded) = api
        .call(Method::GET, "/v1/customers?externalId=%20acme%20", &key, None)
        .await;
    assert_eq!(
        padded["data"][0]["id"], id,
        "looked up the way it was stored: trimmed"
    );

    let (status, dup) = api
        .call(
            Method::POST,
            "/v1/customers",
            &key,
            Some(json!({"name": "Again", "externalId": "acme"})),
        )
        .await;
    assert_eq!(
        (status, dup["error"]["code"].as_str()),
        (409, Some("customer_exists"))
    );
    let (status, missing) = api
        .call(
            Method::POST,
            "/v1/customers",
            &key,
            Some(json!({"externalId": "x"})),
        )
        .await;
    assert_eq!((status, missing["error"]["field"].as_str()), (422, Some("name")));
    let (status, no_query) = api.call(Method::GET, "/v1/customers", &key, None).await;
    assert_eq!(
        (status, no_query["error"]["field"].as_str()),
        (422, Some("externalId"))
    );

    let (_, link) = api.create_link(&key, json!({"customerId": id})).await;
    assert_eq!(link["data"]["customerId"], id);
}

#[tokio::test]
async fn health_readiness_and_openapi_are_served() {
    let env = TestEnv::new().await;
    let api = TestApi::spawn(&env).await;
    let health = api.public_json("/healthz").await;
    assert_eq!(health["status"], "ok");
    let ready = api.http.get(api.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready, json!({"status": "ready", "postgres": "ok", "nats": "ok"}));

    let doc = api.public_json("/openapi.json").await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/v1/onboarding-links",
        "/v1/onboarding-links/{id}",
        "/v1/onboarding-links/{id}/events",
        "/v1/customers",
        "/admin/organizations",
        "/readyz",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is documented");
    }
    assert!(doc["components"]["schemas"]["CreateLinkRequest"]["properties"]["webhookSecret"].is_object());
    // Every API operation documents the answers any of them can give, with the error body.
    for (path, item) in doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(p, _)| p.starts_with("/v1/"))
    {
        for (method, operation) in item.as_object().unwrap() {
            let mut expected = vec!["401", "429", "503"];
            if operation.get("requestBody").is_some() {
                expected.extend(["400", "413"]);
            }
            for status in expected {
                let answer = &operation["responses"][status];
                assert_eq!(
                    answer["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/ErrorBody",
                    "{method} {path} {status}"
                );
            }
        }
    }
}

/// The operations and paths of the OpenAPI document, by operationId.
fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut found = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let id = operation["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            found.push((
                id.to_owned(),
                format!("{} {path}", method.to_uppercase()),
                operation,
            ));
        }
    }
    found
}

/// `$response.body#/a/b` read from a body, as a link's runtime expression means it.
fn runtime_value(expression: &str, body: &Value) -> String {
    let pointer = expression
        .strip_prefix("$response.body#")
        .expect("a body expression");
    body.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{expression} in {body}"))
        .to_owned()
}

#[tokio::test]
async fn operation_ids_are_unique_and_links_lead_from_each_creation_to_what_takes_its_id() {
    let env = TestEnv::new().await;
    let api = TestApi::spawn(&env).await;
    let (_, key) = api.create_org("Linked").await;
    let doc = api.public_json("/openapi.json").await;
    let operations = operations(&doc);
    let mut ids: Vec<&str> = operations.iter().map(|(id, _, _)| id.as_str()).collect();
    ids.sort();
    let total = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), total, "operationIds are unique");

    let creations = [
        (
            "createOnboardingLink",
            "/v1/onboarding-links",
            json!({"name": "Linked customer", "externalId": "l-1"}),
        ),
        (
            "createCustomer",
            "/v1/customers",
            json!({"name": "Another", "externalId": "c-1"}),
        ),
        (
            "createWebhook",
            "/v1/webhooks",
            json!({"url": "https://hooks.example.com/in", "events": ["phone_number.connected"]}),
        ),
    ];
    let mut followed = 0;
    for (creation, path, body) in creations {
        let (_, _, operation) = operations.iter().find(|(id, _, _)| id == creation).unwrap();
        let links = operation["responses"]["201"]["links"]
            .as_object()
            .unwrap_or_else(|| panic!("{creation} has links"));
        let (status, created) = api.call(Method::POST, path, &key, Some(body)).await;
        assert_eq!(status, 201, "{created}");
        for (name, link) in links {
            let target = link["operationId"].as_str().unwrap();
            let (_, route, target_operation) = operations
                .iter()
                .find(|(id, _, _)| id == target)
                .unwrap_or_else(|| panic!("link {name} names {target}, which is no operation"));
            let takes_id = target_operation["parameters"]
                .as_array()
                .is_some_and(|p| p.iter().any(|p| p["name"] == "id" && p["in"] == "path"));
            assert!(takes_id, "{target} takes the id its link gives");
            // Follow every link to a read: the id it carries names what was just created.
            let Some(route) = route.strip_prefix("GET ") else {
                continue;
            };
            let id = runtime_value(link["parameters"]["id"].as_str().unwrap(), &created);
            let (status, read) = api
                .call(Method::GET, &route.replace("{id}", &id), &key, None)
                .await;
            assert_eq!(status, 200, "{name}: GET {route} with {id}: {read}");
            followed += 1;
        }
    }
    assert!(followed >= 7, "links followed: {followed}");
}

/// Numbers at the edges of what JSON carries (the largest double, a subnormal) come back as they
/// were sent, and an event holding them is published like any other: such a value once made
/// every read of its customer fail and stopped the relay for every organization.
#[tokio::test]
async fn extreme_numbers_in_metadata_read_back_and_never_stop_publishing() {
    let env = TestEnv::new().await;
    let api = TestApi::spawn(&env).await;
    let bus = env.bus().await;
    let (_, key) = api.create_org("Numbers").await;
    let metadata = json!({ "max": f64::MAX, "subnormal": -2.225073858507203e-309, "big": 1e300 });

    let (status, customer) = api
        .call(
            Method::POST,
            "/v1/customers",
            &key,
            Some(json!({ "name": "Edge", "metadata": metadata })),
        )
        .await;
    assert_eq!(status, 201, "{customer}");
    let id = customer["data"]["id"].as_str().unwrap();
    let (status, read) = api
        .call(Method::GET, &format!("/v1/customers/{id}"), &key, None)
        .await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["data"]["metadata"], metadata);

    let (status, link) = api
        .create_link(&key, json!({ "name": "Edge", "metadata": metadata }))
        .await;
    assert_eq!(status, 201, "{link}");
    let (status, read) = api.get_link(&key, link["data"]["id"].as_str().unwrap()).await;
    assert_eq!((status, &read["data"]["metadata"]), (200, &metadata));
    // Both creations reach the stream: the relay read their events back from the store.
    gangway_e2e::wait_until(
        "both creations on the stream",
        std::time::Duration::from_secs(10),
        || async {
            let events = gangway_e2e::read_stream(&bus).await.unwrap_or_default();
            events
                .iter()
                .filter(|(_, e)| e.payload.to_string().contains("subnormal"))
                .count()
                >= 2
        },
    )
    .await;
}

#[tokio::test]
async fn metadata_nested_deeper_than_32_levels_is_refused_and_publishing_goes_on() {
    let env = TestEnv::new().await;
    let api = TestApi::spawn(&env).await;
    let bus = env.bus().await;
    let (_, key) = api.create_org("Nesting").await;
    let nested = |levels: usize| {
        let mut metadata = json!("bottom");
        for _ in 0..levels {
            metadata = json!({ "n": metadata });
        }
        metadata
    };
    // 126 levels fit in the request, but not in the event that would carry them: every reader
    // of the store would fail on it, and the relay would stop publishing for every organization.
    for levels in [33, 126] {
        for (path, body) in [
            (
                "/v1/onboarding-links",
                json!({ "name": "Deep", "metadata": nested(levels) }),
            ),
            (
                "/v1/customers",
                json!({ "name": "Deep", "metadata": nested(levels) }),
            ),
        ] {
            let (status, refused) = api.call(Method::POST, path, &key, Some(body)).await;
            assert_eq!(
                (status, refused["error"]["field"].as_str()),
                (422, Some("metadata")),
                "{path} at {levels} levels: {refused}"
            );
            assert!(refused["error"]["message"]
                .as_str()
                .unwrap()
                .contains("32 levels"));
        }
    }
    let (status, kept) = api
        .create_link(&key, json!({ "name": "Deep enough", "metadata": nested(32) }))
        .await;
    assert_eq!(status, 201, "{kept}");
    assert_eq!(kept["data"]["metadata"], nested(32));
    let (status, _) = api.create_link(&key, json!({ "name": "After" })).await;
    assert_eq!(status, 201);
    gangway_e2e::wait_until(
        "both links on the stream",
        std::time::Duration::from_secs(10),
        || async {
            let events = gangway_e2e::read_stream(&bus).await.unwrap_or_default();
            let names = ["Deep enough", "After"];
            names
                .iter()
                .all(|name| events.iter().any(|(_, e)| e.payload["name"] == *name))
        },
    )
    .await;
}

#[tokio::test]
async fn a_link_for_a_known_external_id_leaves_nothing_behind_from_its_first_try() {
    let env = TestEnv::new().await;
    let api = TestApi::spawn(&env).await;
    let (_, key) = api.create_org("Returning").await;
    let body = json!({
        "externalId": "returning",
        "webhookUrl": "https://hooks.example.com/in",
        "webhookSecret": "a-secret-of-twenty-chars",
        "webhookEvents": ["phone_number.connected"],
    });
    // The first link claims the external id in its one statement; the second finds it taken,
    // writes nothing there, and goes the general way (reading the customer, revoking its link).
    let (status, first) = api.create_link(&key, body.clone()).await;
    assert_eq!(status, 201, "{first}");
    let (status, second) = api.create_link(&key, body).await;
    assert_eq!(status, 201, "{second}");
    assert_eq!(first["data"]["customerId"], second["data"]["customerId"]);
    let (_, first) = api.get_link(&key, first["data"]["id"].as_str().unwrap()).await;
    assert_eq!(first["data"]["status"], "revoked");
    let count = |sql: &'static str| {
        let pool = env.pool.clone();
        async move { sqlx::query_scalar::<_, i64>(sql).fetch_one(&pool).await.unwrap() }
    };
    assert_eq!(count("SELECT count(*) FROM customer_external_ids").await, 1);
    assert_eq!(
        count("SELECT count(*) FROM vault_secrets WHERE purpose = 'link_webhook_secret'").await,
        2,
        "one sealed secret per link, none from the second link's first try"
    );
    assert_eq!(
        count("SELECT count(*) FROM events WHERE event_type = 'customer.created'").await,
        1
    );
}

#[tokio::test]
async fn concurrent_customers_with_one_external_id_make_one_customer() {
    let env = TestEnv::new().await;
    let api = std::sync::Arc::new(TestApi::spawn(&env).await);
    let (_, key) = api.create_org("Racing customers").await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (api, key) = (api.clone(), key.clone());
        let body = json!({ "name": format!("Racer {i}"), "externalId": "one" });
        tasks.push(tokio::spawn(async move {
            api.call(Method::POST, "/v1/customers", &key, Some(body)).await
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        let (status, body) = task.await.unwrap();
        if status == 409 {
            assert_eq!(body["error"]["code"], "customer_exists", "{body}");
        }
        statuses.push(status);
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409, 409, 409, 409, 409, 409, 409]);
    let (status, found) = api
        .call(Method::GET, "/v1/customers?externalId=one", &key, None)
        .await;
    assert_eq!(status, 200, "{found}");
}
