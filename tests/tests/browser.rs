//! The browser harness against pages of our own: a page whose button opens a popup, a popup that
//! posts a message back to its opener and closes, and the page the opener then navigates to.

use axum::response::Html;
use axum::routing::get;
use axum::Router;
use gangway_e2e::browser::Browser;
use std::collections::HashMap;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

const START: &str = r#"<!doctype html>
<title>Start</title>
<h1>Connect your number</h1>
<button id="open">Open the popup</button>
<p id="message"></p>
<script>
  document.getElementById("open").addEventListener("click", () => {
    window.open("/popup", "connect", "width=480,height=360");
  });
  window.addEventListener("message", (event) => {
    if (event.origin !== location.origin) return;
    const { name, country } = event.data;
    document.getElementById("message").textContent = `Hello ${name} from ${country}`;
    const next = new URLSearchParams(location.search).get("next");
    if (next) {
      setTimeout(() => location.assign(`${next}?${new URLSearchParams({ name, country })}`), 200);
    }
  });
</script>
"#;

const POPUP: &str = r#"<!doctype html>
<title>Popup</title>
<label>Name <input id="name" value="placeholder"></label>
<label>Country
  <select id="country">
    <option value="">Choose</option>
    <option value="BR">Brazil</option>
    <option value="PT">Portugal</option>
  </select>
</label>
<button id="send">Send</button>
<script>
  document.getElementById("send").addEventListener("click", () => {
    const name = document.getElementById("name").value;
    const country = document.getElementById("country").value;
    window.opener.postMessage({ name, country }, location.origin);
    window.close();
  });
</script>
"#;

const DONE: &str = r#"<!doctype html>
<title>Done</title>
<p id="welcome"></p>
<script>
  const query = new URLSearchParams(location.search);
  document.getElementById("welcome").textContent =
    `Welcome ${query.get("name")} (${query.get("country")})`;
</script>
"#;

/// Serves the three pages on a free loopback port; returns the base URL.
async fn serve_pages() -> String {
    let app = Router::new()
        .route("/start", get(|| async { Html(START) }))
        .route("/popup", get(|| async { Html(POPUP) }))
        .route("/done", get(|| async { Html(DONE) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding a loopback port");
    let base = format!("http://{}", listener.local_addr().expect("local address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

/// Opens the popup from `start`, fills it in and sends, and returns to the opener.
async fn send_from_popup(browser: &mut Browser, start: &str) -> anyhow::Result<()> {
    browser.goto(start).await?;
    browser.click("#open").await?;
    browser.switch_to_new_window(WAIT).await?;
    assert!(browser.current_url().await?.path().ends_with("/popup"));
    browser.fill("#name", "Ada Lovelace").await?;
    browser.select("#country", "PT").await?;
    browser.click("#send").await?;
    browser.switch_to_main().await?;
    browser.wait_for_windows(1, WAIT).await
}

#[tokio::test]
async fn the_opener_shows_what_the_popup_posted_after_the_popup_closes() -> anyhow::Result<()> {
    let base = serve_pages().await;
    let mut browser = Browser::launch().await?;

    send_from_popup(&mut browser, &format!("{base}/start")).await?;

    let message = browser.wait_for_text("#message", "Hello", WAIT).await?;
    assert_eq!(message, "Hello Ada Lovelace from PT");
    assert_eq!(browser.windows().await?.len(), 1);
    assert_eq!(browser.current_url().await?.path(), "/start");
    browser.close().await
}

#[tokio::test]
async fn the_opener_navigates_with_what_the_popup_posted_in_the_query() -> anyhow::Result<()> {
    let base = serve_pages().await;
    let mut browser = Browser::launch().await?;

    send_from_popup(&mut browser, &format!("{base}/start?next=/done")).await?;

    let url = browser.wait_for_url(|url| url.path() == "/done", WAIT).await?;
    let query: HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(query.get("name").map(String::as_str), Some("Ada Lovelace"));
    assert_eq!(query.get("country").map(String::as_str), Some("PT"));
    assert_eq!(browser.text("#welcome").await?, "Welcome Ada Lovelace (PT)");
    browser.close().await
}

#[tokio::test]
async fn a_wait_that_times_out_says_what_it_waited_for_and_what_the_page_showed() -> anyhow::Result<()> {
    let base = serve_pages().await;
    let browser = Browser::launch().await?;
    browser.goto(&format!("{base}/start")).await?;

    let error = browser
        .wait_for("#never-rendered", Duration::from_millis(300))
        .await
        .expect_err("the element does not exist");

    let report = error.to_string();
    assert!(
        report.contains("waiting for #never-rendered to be displayed"),
        "{report}"
    );
    assert!(report.contains(&format!("{base}/start")), "{report}");
    assert!(report.contains("Connect your number"), "{report}");
    let screenshot = report
        .lines()
        .find_map(|line| line.trim().strip_prefix("screenshot: "))
        .expect("a screenshot line");
    assert!(std::fs::metadata(screenshot)?.len() > 0, "{report}");
    std::fs::remove_file(screenshot)?;
    browser.close().await
}
