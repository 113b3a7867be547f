//! Requests per API key are limited (per process): a key over its limit gets 429 `rate_limited`
//! with `Retry-After` and the `RateLimit-*` headers, and other keys go on as before.

use gangway_e2e::{api_config, TestApi};
use gangway_testkit::TestEnv;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_over_its_limit_is_told_when_to_retry_and_other_keys_are_served() {
    let env = TestEnv::new().await;
    let mut config = api_config(&env);
    config.rate_limit_per_second = 2;
    config.rate_limit_burst = 5;
    let api = TestApi::spawn_with(config).await;
    let (_, greedy) = api.create_org("Greedy Co").await;
    let (_, polite) = api.create_org("Polite Co").await;
    let get = |key: &str| {
        api.http
            .get(api.url("/v1/onboarding-links"))
            .bearer_auth(key)
            .send()
    };
    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..8 {
        let response = get(&greedy).await.unwrap();
        statuses.push(response.status().as_u16());
        if response.status() == 429 && limited.is_none() {
            limited = Some(response);
        }
    }
    assert_eq!(&statuses[..5], [200; 5], "the burst is served: {statuses:?}");
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
    let limited = limited.expect("a 429");
    let header = |name: &str| limited.headers()[name].to_str().unwrap().to_owned();
    assert_eq!(header("ratelimit-limit"), "2");
    assert_eq!(header("ratelimit-remaining"), "0");
    assert!(header("retry-after").parse::<u64>().unwrap() >= 1);
    assert!(header("ratelimit-reset").parse::<u64>().unwrap() >= 1);
    let body: serde_json::Value = limited.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");

    assert_eq!(
        get(&polite).await.unwrap().status(),
        200,
        "another key is not affected"
    );
}
