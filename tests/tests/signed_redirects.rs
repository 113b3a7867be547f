//! Redirects back to the integrator carry a signature its frontend can check, verified here the
//! way the README tells integrators to, by a Python implementation written in this test.

use gangway_e2e::signup::{Landing, SignupWorld};
use reqwest::Method;
use serde_json::{json, Value};

/// The README's Python check, run by the machine's `python3`: prints whether `query` (what
/// follows `?`) verifies under `secret`.
const VERIFY_PY: &str = r#"
import base64, hashlib, hmac, sys, time, urllib.parse
def verify_redirect(query: str, secret: str, tolerance: int = 600) -> bool:
    signed, found, raw = query.rpartition("&signature=")
    t, *tags = urllib.parse.unquote(raw).split(",")
    if not found or not t.startswith("t=") or not t[2:].isdigit():
        return False
    mac = hmac.new(secret.encode(), f"{t[2:]}.{signed}".encode(), hashlib.sha256)
    expected = "v1=" + base64.b64encode(mac.digest()).decode()
    fresh = abs(time.time() - int(t[2:])) < tolerance
    return fresh and any(hmac.compare_digest(v.encode(), expected.encode()) for v in tags)
print("verified" if verify_redirect(sys.argv[1], sys.argv[2]) else "refused")
"#;

fn verifies(location: &str, secret: &str) -> bool {
    let query = location.split_once('?').map_or("", |(_, q)| q);
    let output = std::process::Command::new("python3")
        .args(["-c", VERIFY_PY, query, secret])
        .output()
        .expect("python3 runs");
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "python3: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    said.trim() == "verified"
}

async fn read_secret(world: &SignupWorld, key: &str) -> Value {
    let (status, body) = world
        .api
        .call(Method::GET, "/v1/redirect-secret", key, None)
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

async fn rotate(world: &SignupWorld, body: Value) -> (u16, Value) {
    let (status, answer) = world
        .api
        .call(Method::POST, "/v1/redirect-secret/rotate", &world.key, Some(body))
        .await;
    (status, answer)
}

fn signed_last(landing: &Landing) {
    assert_eq!(landing.status, 303, "{}", landing.body);
    let last = landing.location.rsplit('&').next().unwrap_or_default();
    assert!(last.starts_with("signature=t%3D"), "{}", landing.location);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_redirect_back_is_signed_and_a_changed_parameter_fails() {
    let world = SignupWorld::new().await;
    let link = world
        .link(json!({
            "redirectUrl": "https://app.example.com/whatsapp/done?tenant=acme",
            "externalId": "cus_signed"
        }))
        .await;

    let success = world.finish(&link).await;
    signed_last(&success);
    assert_eq!(success.params["status"], "success");
    assert_eq!(
        success.params["tenant"], "acme",
        "the integrator's own parameters stay"
    );
    let secret = read_secret(&world, &world.key).await;
    let key = secret["secret"].as_str().expect("a secret");
    assert!(key.starts_with("rdsec_"), "{secret}");
    assert!(secret.get("previousSecret").is_none(), "{secret}");
    assert!(verifies(&success.location, key));

    let phone = &success.params["phone_number_id"];
    let forged = success.location.replace(
        &format!("phone_number_id={phone}"),
        &format!("phone_number_id={}", uuid::Uuid::now_v7()),
    );
    assert_ne!(forged, success.location);
    assert!(!verifies(&forged, key), "another phone id");
    let own = success.location.replace("tenant=acme", "tenant=evil");
    assert!(
        !verifies(&own, key),
        "the integrator's own parameters are covered"
    );
    let unsigned = success.location.rsplit_once("&signature=").unwrap().0;
    assert!(!verifies(unsigned, key), "no signature");
    assert!(
        !verifies(&success.location, "rdsec_somebody_else"),
        "another secret"
    );

    // Failures and refusals are signed the same way.
    let refused = world.open(&link).await;
    signed_last(&refused);
    assert_eq!(refused.params["error_code"], "already_used");
    assert!(verifies(&refused.location, key));
    let cancelled_link = world.link(json!({})).await;
    let cancelled = world.cancel(&cancelled_link, "PHONE_NUMBER_SETUP").await;
    signed_last(&cancelled);
    assert_eq!(cancelled.params["status"], "error");
    assert!(verifies(&cancelled.location, key));

    // Another organization has its own secret, which verifies none of these.
    let (_, other_key) = world.api.create_org("Other Co").await;
    let other = read_secret(&world, &other_key).await["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(other, key);
    assert!(!verifies(&success.location, &other));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_secret_signs_beside_the_new_one_until_its_grace_ends() {
    let world = SignupWorld::new().await;
    // Ten first reads at once issue one secret.
    let reads = futures::future::join_all((0..10).map(|_| read_secret(&world, &world.key))).await;
    assert!(reads.iter().all(|r| r == &reads[0]), "{reads:?}");
    let first = reads[0]["secret"].as_str().unwrap().to_owned();

    let (status, rotated) = rotate(&world, json!({ "gracePeriodSeconds": 3600 })).await;
    assert_eq!(status, 200, "{rotated}");
    let second = rotated["data"]["secret"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    assert_eq!(rotated["data"]["previousSecret"], first.as_str());
    assert_eq!(read_secret(&world, &world.key).await, rotated["data"]);
    let during = world.finish(&world.link(json!({})).await).await;
    signed_last(&during);
    assert!(verifies(&during.location, &second));
    assert!(
        verifies(&during.location, &first),
        "the previous secret signs during its grace"
    );

    let (status, given) = rotate(
        &world,
        json!({ "secret": "my-own-redirect-secret-1234", "gracePeriodSeconds": 0 }),
    )
    .await;
    assert_eq!(status, 200, "{given}");
    assert_eq!(given["data"]["secret"], "my-own-redirect-secret-1234");
    assert!(given["data"].get("previousSecret").is_none(), "{given}");
    let after = world.finish(&world.link(json!({})).await).await;
    assert!(verifies(&after.location, "my-own-redirect-secret-1234"));
    assert!(
        !verifies(&after.location, &second),
        "no grace: the old secret stopped signing"
    );

    let (status, refused) = rotate(&world, json!({ "gracePeriodSeconds": 604_801 })).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["field"], "gracePeriodSeconds");
    let (status, refused) = rotate(&world, json!({ "secret": "short" })).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["field"], "secret");
    assert_eq!(
        read_secret(&world, &world.key).await["secret"],
        "my-own-redirect-secret-1234",
        "a refused rotation changes nothing"
    );
}
