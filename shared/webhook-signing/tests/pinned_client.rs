//! The pinned client against a bare local HTTP server: it connects to the address it was given
//! whatever the host name says, does not follow redirects, and gives up at its timeout.

use std::net::SocketAddr;
use std::time::Duration;

use gangway_webhook_signing::{check_target, pinned_client, Policy, TargetError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use url::Url;

const LOCAL: Policy = Policy {
    allow_http: true,
    allow_private: true,
};

/// Answers one request with `response` and hands back the request's head.
async fn serve_once(response: &'static str) -> (SocketAddr, tokio::task::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a local port");
    let addr = listener.local_addr().expect("local address");
    let served = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("accept");
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).await.expect("read the request");
            assert!(n > 0, "the client closed before sending its request");
            head.extend_from_slice(&buf[..n]);
        }
        stream
            .write_all(response.as_bytes())
            .await
            .expect("write the response");
        String::from_utf8_lossy(&head).into_owned()
    });
    (addr, served)
}

fn url(raw: &str) -> Url {
    Url::parse(raw).expect("a valid URL")
}

#[tokio::test]
async fn the_request_goes_to_the_pinned_address_under_the_original_host_name() {
    let (addr, served) = serve_once("HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n").await;
    // `.invalid` never resolves, so reaching the server at all proves the pin was used.
    let target = url(&format!("http://hooks.example.invalid:{}/in", addr.port()));
    let client = pinned_client(&target, &[addr], Duration::from_secs(5)).expect("client");

    let response = client.post(target).body("{}").send().await.expect("delivered");

    assert_eq!(response.status(), 204);
    let head = served.await.expect("server task").to_ascii_lowercase();
    assert!(head.starts_with("post /in http/1.1"), "{head}");
    assert!(
        head.contains(&format!("host: hooks.example.invalid:{}", addr.port())),
        "{head}"
    );
}

#[tokio::test]
async fn a_checked_localhost_target_is_reached_through_its_checked_addresses() {
    let (addr, served) = serve_once("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await;
    let target = url(&format!("http://localhost:{}/hook", addr.port()));
    let addrs = check_target(&target, LOCAL)
        .await
        .expect("loopback is allowed here");
    // Only the IPv4 listener exists; keep the one address it answers on.
    let addrs: Vec<_> = addrs.into_iter().filter(SocketAddr::is_ipv4).collect();
    let client = pinned_client(&target, &addrs, Duration::from_secs(5)).expect("client");

    assert_eq!(client.get(target).send().await.expect("delivered").status(), 200);
    served.await.expect("server task");
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let (addr, served) =
        serve_once("HTTP/1.1 302 Found\r\nlocation: http://169.254.169.254/\r\ncontent-length: 0\r\n\r\n")
            .await;
    let target = url(&format!("http://hooks.example.invalid:{}/", addr.port()));
    let client = pinned_client(&target, &[addr], Duration::from_secs(5)).expect("client");

    let response = client.post(target).send().await.expect("answered");

    assert_eq!(response.status(), 302);
    served.await.expect("server task");
}

#[tokio::test]
async fn a_receiver_that_never_answers_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a local port");
    let addr = listener.local_addr().expect("local address");
    let target = url(&format!("http://hooks.example.invalid:{}/", addr.port()));
    let client = pinned_client(&target, &[addr], Duration::from_millis(200)).expect("client");

    // The listener accepts (the kernel completes the handshake) but never reads or answers.
    let error = client.post(target).send().await.expect_err("no answer");

    assert!(error.is_timeout(), "{error:?}");
    drop(listener);
}

#[test]
fn a_client_needs_at_least_one_address() {
    let result = pinned_client(&url("https://hooks.example.com/"), &[], Duration::from_secs(1));
    assert!(matches!(result, Err(TargetError::NoAddresses)));
}
