//! `make bench` (phase `console`): the organization console's links page with 100,000 links in one
//! organization (BENCH_CONSOLE_LINKS), served by the release api at its defaults. Open loop
//! (BENCH_CONSOLE_RATE requests/s for BENCH_CONSOLE_SECONDS, each timed from when it was due)
//! over pages spread through the whole list, found by walking it once; next to it, the API's
//! offset-paged `GET /v1/onboarding-links` at the same depths as the baseline. Prints numbers;
//! asserts nothing.
//!
//! The links are written straight into the read model, copies of one link made through the api
//! and projected by the release projector, each with its own id and creation time.

use gangway_e2e::bench::open_loop;
use gangway_e2e::bench::quantiles;
use gangway_e2e::bench::services::{Api, Service};
use gangway_e2e::console::ConsoleClient;
use gangway_e2e::{bench_setting, wait_until};
use gangway_testkit::TestEnv;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

const PAGE: u64 = 50;

/// Copies of the one projected link until the organization has `total`, newest first by
/// creation time, a quarter of them completed.
async fn fill(env: &TestEnv, total: i64) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO rm_onboarding_links \
           (id, organization_id, customer_id, external_id, status, expires_at, created_at, stream_version, document) \
         SELECT c.id, l.organization_id, NULL, 'bench-' || c.n, c.status, l.expires_at, c.created_at, l.stream_version, \
                jsonb_set(jsonb_set(jsonb_set(l.document, '{id}', to_jsonb(c.id::text)), \
                          '{createdAt}', to_jsonb(to_char(c.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'))), \
                          '{status}', to_jsonb(c.status)) \
           FROM rm_onboarding_links l, \
                LATERAL (SELECT gen_random_uuid() AS id, g AS n, \
                                l.created_at - make_interval(secs => g) AS created_at, \
                                CASE WHEN g % 4 = 0 THEN 'completed' ELSE 'pending' END AS status \
                           FROM generate_series(1, $1 - 1) g) c",
    )
    .bind(total)
    .execute(&env.pool)
    .await?;
    sqlx::query("ANALYZE rm_onboarding_links")
        .execute(&env.pool)
        .await?;
    Ok(())
}

/// The `after` of the page's "Older links", as the browser would follow it.
fn next_page(body: &str) -> Option<String> {
    let at = body.find("after=")? + "after=".len();
    let raw = &body[at..];
    let raw = &raw[..raw.find('"')?];
    Some(raw.replace("&#x2f;", "/").replace("&amp;", "&"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let total: i64 = bench_setting("BENCH_CONSOLE_LINKS", 100_000);
    let rate: u64 = bench_setting("BENCH_CONSOLE_RATE", 50);
    let seconds: u64 = bench_setting("BENCH_CONSOLE_SECONDS", 20);
    let env = TestEnv::new().await;
    let api = Api::start(&env, None).await?;
    let projector = Service::start("gangway-projector", env.process_env())?;
    let (_, key) = api.organization("Console bench").await?;
    api.http
        .post(format!("{}/v1/onboarding-links", api.base_url))
        .bearer_auth(&key)
        .json(&json!({ "name": "Bench customer", "externalId": "bench-0" }))
        .send()
        .await?
        .error_for_status()?;
    wait_until("the link in the read model", Duration::from_secs(30), || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM rm_onboarding_links")
            .fetch_one(&env.pool)
            .await
            .is_ok_and(|n| n == 1)
    })
    .await;
    drop(projector);
    let filled = Instant::now();
    fill(&env, total).await?;
    println!(
        "console: {total} links in one organization (written in {:.1} s)",
        filled.elapsed().as_secs_f64()
    );

    let console = Arc::new(ConsoleClient::new(&api.base_url));
    anyhow::ensure!(console.sign_in(&key).await.status == 303, "signing in");
    // Walk the whole list once, as a person paging to the end would; keep every page's address.
    let walked = Instant::now();
    let mut pages = vec!["/console/links".to_owned()];
    while let Some(after) = next_page(&console.get(pages.last().expect("a page")).await.body) {
        pages.push(format!("/console/links?status=&external_id=&after={after}"));
    }
    let walk = walked.elapsed().as_secs_f64();
    println!(
        "  walked {} pages of {PAGE} in {walk:.1} s ({:.2} ms a page, closed loop)",
        pages.len(),
        walk * 1000.0 / pages.len() as f64
    );
    let pages = Arc::new(pages);

    let spread = |i: u64, n: usize| (i.wrapping_mul(2_654_435_761) % n as u64) as usize;
    let run = {
        let (console, pages) = (console.clone(), pages.clone());
        open_loop::run(rate, seconds, 8, move |i| {
            let (console, pages) = (console.clone(), pages.clone());
            async move {
                let page = &pages[spread(i, pages.len())];
                let answer = console.get(page).await;
                anyhow::ensure!(answer.status == 200, "{page}: {}", answer.status);
                Ok(())
            }
        })
        .await
    };
    println!(
        "  console /console/links, any page ({rate}/s open loop, {} sent, {} failed): {}",
        run.sent,
        run.failed,
        quantiles(&run.latency)
    );
    let filtered = {
        let console = console.clone();
        open_loop::run(rate, seconds, 8, move |i| {
            let console = console.clone();
            async move {
                let path = if i % 2 == 0 {
                    "/console/links?status=completed"
                } else {
                    "/console/links?external_id=bench-77"
                };
                anyhow::ensure!(console.get(path).await.status == 200, "{path}");
                Ok(())
            }
        })
        .await
    };
    println!(
        "  console /console/links, filtered by status or external id ({rate}/s): {}",
        quantiles(&filtered.latency)
    );

    let deepest = pages.len() as u64;
    let baseline = {
        let (http, base, key) = (api.http.clone(), api.base_url.clone(), key.clone());
        open_loop::run(rate, seconds, 8, move |i| {
            let (http, base, key) = (http.clone(), base.clone(), key.clone());
            async move {
                let page = spread(i, deepest as usize) + 1;
                let url = format!("{base}/v1/onboarding-links?limit={PAGE}&page={page}");
                http.get(url).bearer_auth(&key).send().await?.error_for_status()?;
                Ok(())
            }
        })
        .await
    };
    println!(
        "  baseline: API GET /v1/onboarding-links?page=N (offset, with a total count) at the same depths ({rate}/s): {}",
        quantiles(&baseline.latency)
    );
    let (console_p99, api_p99) = (
        run.latency.value_at_quantile(0.99),
        baseline.latency.value_at_quantile(0.99),
    );
    println!(
        "  console p99 / baseline p99 = {:.2}",
        console_p99 as f64 / api_p99.max(1) as f64
    );
    Ok(())
}
