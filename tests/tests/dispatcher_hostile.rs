//! What one receiver answers cannot hurt delivery for anybody else: an organization's endpoints
//! answering with NUL bytes, invalid UTF-8 and a 50 MiB body are recorded with short, storable
//! excerpts, and another organization's messages are each delivered once and recorded.

use axum::body::Body;
use axum::routing::post;
use axum::Router;
use futures::stream::{self, StreamExt};
use gangway_domain::OrganizationId;
use gangway_e2e::dispatch::{create_endpoint, dispatcher_env, expired_links, Receiver};
use gangway_e2e::{wait_until, ChildProcess, TestApi};
use gangway_testkit::TestEnv;
use reqwest::Method;
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;

const HEALTHY_MESSAGES: usize = 1_000;
const HOSTILE_MESSAGES: usize = 100;
const EXCERPT_BYTES: usize = 4_096;

/// Answers 200 with bodies no receiver should send.
async fn hostile_receiver() -> String {
    let app = Router::new()
        .route(
            "/nul",
            post(|| async { Body::from(b"ok\0\0\0 and more \0".to_vec()) }),
        )
        .route(
            "/invalid-utf8",
            post(|| async { Body::from(vec![b'o', b'k', 0xff, 0xfe, 0xc3, 0x28, b'!']) }),
        )
        .route(
            "/huge",
            post(|| async {
                // 50 MiB in 64 KiB chunks, made as they are sent.
                let chunks = stream::iter(0..800).map(|_| Ok::<_, std::io::Error>(vec![b'x'; 64 * 1024]));
                Body::from_stream(chunks)
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// Peak resident memory of a process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

async fn messages(api: &TestApi, key: &str, endpoint: &str) -> Vec<Value> {
    let path = format!("/v1/webhooks/{endpoint}/messages?limit=100");
    let (status, body) = api.call(Method::GET, &path, key, None).await;
    assert_eq!(status, 200, "{body}");
    body["data"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_answers_are_recorded_safely_and_other_tenants_are_delivered_once() {
    let env = TestEnv::new().await;
    let api = TestApi::spawn(&env).await;
    let (hostile_org, hostile_key) = api.create_org("Hostile Co").await;
    let hostile_org = OrganizationId::from_uuid(hostile_org.parse().unwrap());
    let (healthy_org, healthy_key) = api.create_org("Healthy Co").await;
    let healthy_org = OrganizationId::from_uuid(healthy_org.parse().unwrap());
    let types = ["onboarding_link.expired"];
    let hostile = hostile_receiver().await;
    let mut hostile_endpoints = HashMap::new();
    for path in ["/nul", "/invalid-utf8", "/huge"] {
        let url = format!("{hostile}{path}");
        let id = create_endpoint(&api, hostile_org, &url, &types, None, "hostile-secret-1234").await;
        hostile_endpoints.insert(path, id.to_string());
    }
    let healthy = Receiver::start().await;
    let healthy_endpoint = create_endpoint(
        &api,
        healthy_org,
        &healthy.url("/in"),
        &types,
        None,
        "healthy-secret-1234",
    )
    .await;
    let dispatcher = ChildProcess::start("gangway-dispatcher", dispatcher_env(&env));

    expired_links(&api, hostile_org, HOSTILE_MESSAGES).await;
    expired_links(&api, healthy_org, HEALTHY_MESSAGES).await;

    wait_until("every healthy delivery", Duration::from_secs(90), || async {
        healthy.received().len() >= HEALTHY_MESSAGES
    })
    .await;
    let healthy_id = healthy_endpoint.to_string();
    wait_until(
        "every message recorded as delivered",
        Duration::from_secs(60),
        || async {
            let path = format!("/v1/webhooks/{healthy_id}/messages?status=pending&limit=1");
            let (_, pending) = api.call(Method::GET, &path, &healthy_key, None).await;
            let mut settled = pending["pagination"]["total"] == 0;
            for id in hostile_endpoints.values() {
                let path = format!("/v1/webhooks/{id}/messages?status=delivered&limit=1");
                let (_, delivered) = api.call(Method::GET, &path, &hostile_key, None).await;
                settled &= delivered["pagination"]["total"] == HOSTILE_MESSAGES;
            }
            settled
        },
    )
    .await;

    let mut per_id: HashMap<String, usize> = HashMap::new();
    for received in healthy.received() {
        *per_id
            .entry(received.header("webhook-id").to_owned())
            .or_default() += 1;
    }
    assert_eq!(per_id.len(), HEALTHY_MESSAGES, "distinct webhook ids");
    assert!(per_id.values().all(|n| *n == 1), "each delivered once");

    for (path, id) in &hostile_endpoints {
        let listed = messages(&api, &hostile_key, id).await;
        let message = listed.first().expect("a recorded message");
        let show = format!("/v1/messages/{}", message["id"].as_str().unwrap());
        let (status, shown) = api.call(Method::GET, &show, &hostile_key, None).await;
        assert_eq!(status, 200, "{shown}");
        let attempt = &shown["data"]["attemptsLog"][0];
        assert_eq!(attempt["statusCode"], 200, "{path}: {attempt}");
        let excerpt = attempt["responseExcerpt"].as_str().expect("an excerpt");
        assert!(!excerpt.contains('\0'), "{path}");
        assert!(
            excerpt.len() <= EXCERPT_BYTES + 3 * 8,
            "{path}: {} bytes",
            excerpt.len()
        );
        assert!(
            excerpt.starts_with("ok") || excerpt.starts_with('x'),
            "{path}: {excerpt:?}"
        );
    }
    let peak = peak_rss_kib(dispatcher.pid());
    eprintln!("dispatcher peak RSS: {peak} KiB");
    assert!(peak < 64 * 1024, "dispatcher peak RSS {peak} KiB");
}

/// A receiver that answers 200 and then stalls its body has the message delivered: the status
/// counts, and only the excerpt is cut short by the attempt's time limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_2xx_whose_body_stalls_counts_as_delivered() {
    use gangway_e2e::dispatch::{dispatcher_config, spawn_dispatcher};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/stall", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = vec![0u8; 64 * 1024];
                let _ = socket.read(&mut request).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\nok";
                let _ = socket.write_all(head.as_bytes()).await;
                tokio::time::sleep(Duration::from_secs(30)).await;
            });
        }
    });
    let env = TestEnv::new().await;
    let api = TestApi::spawn(&env).await;
    let (org, key) = api.create_org("Stalling Co").await;
    let org = OrganizationId::from_uuid(org.parse().unwrap());
    let endpoint = create_endpoint(
        &api,
        org,
        &url,
        &["onboarding_link.expired"],
        None,
        "stall-secret-12345",
    )
    .await;
    let mut config = dispatcher_config(&env);
    config.attempt_timeout_ms = 500;
    let _dispatcher = spawn_dispatcher(config).await;
    expired_links(&api, org, 1).await;
    let path = format!("/v1/webhooks/{endpoint}/messages?status=delivered");
    wait_until(
        "the message recorded as delivered",
        Duration::from_secs(15),
        || async {
            let (_, delivered) = api.call(Method::GET, &path, &key, None).await;
            delivered["pagination"]["total"] == 1
        },
    )
    .await;
}
