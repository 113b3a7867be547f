//! Onboardings driven over HTTP the way a browser and the sandbox's dialog would (no browser):
//! create a link, open the hosted page for its `state`, get a code for a fresh number, post the
//! callback. Each onboarding retries, on another api replica and with a new link, until it has
//! connected its number, so processes may die underneath it. What each client was told is kept,
//! so a test can check the webhooks against it.

use crate::cluster::Cluster;
use crate::signup::COFFEE_WABA;
use crate::ADMIN_TOKEN;
use futures::StreamExt;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The organization the load runs for, with its one webhook endpoint.
pub struct Tenant {
    pub key: String,
    /// The endpoint's id, as the api answered its creation.
    pub endpoint: String,
    /// The secret the endpoint was created with, to check the receiver's signatures.
    pub secret: String,
}

/// The secret of the load's endpoint (a raw secret: its bytes are the key).
const ENDPOINT_SECRET: &str = "load-endpoint-secret-6f1c0d";

/// What the client of one onboarding was told.
#[derive(Clone, Debug)]
pub struct Onboarded {
    /// The `externalId` of every link it created.
    pub external_id: String,
    /// Meta's id of the number it connected: a fresh one for each onboarding.
    pub meta_phone: String,
    /// The link whose callback redirected with `status=success`.
    pub link: String,
    /// Gangway's phone id that success redirect named.
    pub phone_id: String,
    /// Links of earlier attempts that ended without a success redirect (a process died under
    /// them): each may have completed all the same, or not.
    pub abandoned: Vec<String>,
}

impl Onboarded {
    /// Every link this onboarding created, the successful one first.
    pub fn links(&self) -> impl Iterator<Item = &String> {
        std::iter::once(&self.link).chain(&self.abandoned)
    }
}

/// An HTTP step failed; the onboarding starts over.
#[derive(Debug)]
struct Retry(String);

pub struct Load<'a> {
    cluster: &'a Cluster,
    http: reqwest::Client,
    next_api: AtomicUsize,
    /// Attempts that had to start over (a process was down, a link was left claimed).
    pub retries: AtomicUsize,
    /// Onboardings finished so far.
    pub completed: AtomicUsize,
}

impl<'a> Load<'a> {
    pub fn new(cluster: &'a Cluster) -> Self {
        Self {
            cluster,
            // Keeps the signup cookie each link's page sets, as a person's browser does.
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .cookie_store(true)
                .timeout(Duration::from_secs(20))
                .build()
                .expect("http client"),
            next_api: AtomicUsize::new(0),
            retries: AtomicUsize::new(0),
            completed: AtomicUsize::new(0),
        }
    }

    fn api(&self) -> &str {
        let urls = &self.cluster.api_urls;
        &urls[self.next_api.fetch_add(1, Ordering::Relaxed) % urls.len()]
    }

    /// An organization with an endpoint at the receiver's `path` for `events`, retried until an
    /// api replica takes it (before any process is made to fail, so nothing is created twice).
    pub async fn tenant(&self, path: &str, events: &[&str]) -> Tenant {
        let key = loop {
            let created = self
                .http
                .post(format!("{}/admin/organizations", self.api()))
                .bearer_auth(ADMIN_TOKEN)
                .json(&json!({ "name": "Load Co" }))
                .send()
                .await;
            if let Ok(response) = created.and_then(|r| r.error_for_status()) {
                let body: Value = response.json().await.expect("organization");
                break body["data"]["apiKey"].as_str().expect("api key").to_owned();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let endpoint = json!({
            "url": self.cluster.receiver.url(path),
            "events": events,
            "secret": ENDPOINT_SECRET,
        });
        let endpoint = loop {
            let created = self
                .http
                .post(format!("{}/v1/webhooks", self.api()))
                .bearer_auth(&key)
                .json(&endpoint)
                .send()
                .await;
            if let Ok(response) = created.and_then(|r| r.error_for_status()) {
                let body: Value = response.json().await.expect("endpoint");
                break body["data"]["id"].as_str().expect("endpoint id").to_owned();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        Tenant {
            key,
            endpoint,
            secret: ENDPOINT_SECRET.to_owned(),
        }
    }

    /// Runs `count` onboardings, `concurrency` at a time; returns what each one's client saw.
    pub async fn onboard(&self, tenant: &Tenant, count: usize, concurrency: usize) -> Vec<Onboarded> {
        futures::stream::iter(0..count)
            .map(|n| self.onboard_one(tenant, n))
            .buffer_unordered(concurrency)
            .collect()
            .await
    }

    async fn onboard_one(&self, tenant: &Tenant, n: usize) -> Onboarded {
        let phone = loop {
            match self.new_number().await {
                Ok(phone) => break phone,
                Err(Retry(_)) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        let external_id = format!("load-{n}");
        let mut links = Vec::new();
        for attempt in 1.. {
            // Each retry goes to the next replica, so one that is down cannot be chosen every
            // time (a shared round robin can fall into step with a few remaining onboardings).
            let urls = &self.cluster.api_urls;
            let api = &urls[(n + attempt) % urls.len()];
            match self
                .try_onboarding(api, tenant, &external_id, &phone, &mut links)
                .await
            {
                Ok(phone_id) => {
                    self.completed.fetch_add(1, Ordering::Relaxed);
                    let link = links.pop().expect("the successful link");
                    return Onboarded {
                        external_id,
                        meta_phone: phone,
                        link,
                        phone_id,
                        abandoned: links,
                    };
                }
                Err(Retry(why)) => {
                    self.retries.fetch_add(1, Ordering::Relaxed);
                    assert!(attempt < 200, "onboarding {n} keeps failing: {why}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        unreachable!()
    }

    async fn new_number(&self) -> Result<String, Retry> {
        let body = json!({ "waba_id": COFFEE_WABA, "country": "US" });
        let added = self.sandbox_post("/sandbox/phones", body).await?;
        Ok(added["id"].as_str().expect("phone id").to_owned())
    }

    async fn sandbox_post(&self, path: &str, body: Value) -> Result<Value, Retry> {
        let response = self
            .http
            .post(self.cluster.sandbox.url(path))
            .json(&body)
            .send()
            .await
            .map_err(|e| Retry(e.to_string()))?;
        response.json().await.map_err(|e| Retry(e.to_string()))
    }

    /// One attempt; every link it creates is added to `links`, and on success the last one is
    /// the link that succeeded. Returns the phone id the success redirect named.
    async fn try_onboarding(
        &self,
        api: &str,
        tenant: &Tenant,
        external_id: &str,
        phone: &str,
        links: &mut Vec<String>,
    ) -> Result<String, Retry> {
        let fail = |e: reqwest::Error| Retry(e.to_string());
        let created = self
            .http
            .post(format!("{api}/v1/onboarding-links"))
            .bearer_auth(&tenant.key)
            .json(&json!({ "externalId": external_id, "redirectUrl": "https://app.example.com/done" }))
            .send()
            .await
            .map_err(fail)?;
        if created.status() != 201 {
            return Err(Retry(format!("link: {}", created.status())));
        }
        let link: Value = created.json().await.map_err(fail)?;
        let link = link["data"]["id"].as_str().expect("link id").to_owned();
        links.push(link.clone());
        let page = self
            .http
            .get(format!("{api}/signup/{link}"))
            .send()
            .await
            .map_err(fail)?
            .text()
            .await
            .map_err(fail)?;
        let state = page
            .split("\"state\":\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .ok_or_else(|| Retry("no state in the hosted page".into()))?
            .to_owned();
        let minted = self
            .sandbox_post(
                "/sandbox/codes",
                json!({ "waba_id": COFFEE_WABA, "phone_number_id": phone }),
            )
            .await?;
        let code = minted["code"]
            .as_str()
            .ok_or_else(|| Retry(format!("code: {minted}")))?;
        let fields = [
            ("state", state.as_str()),
            ("code", code),
            ("event", "FINISH"),
            ("waba_id", COFFEE_WABA),
            ("phone_number_id", phone),
        ];
        let landed = self
            .http
            .post(format!("{api}/signup/{link}/callback"))
            .form(&fields)
            .send()
            .await
            .map_err(fail)?;
        let location = landed
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let params: std::collections::HashMap<String, String> = url::Url::parse(&location)
            .map(|url| url.query_pairs().into_owned().collect())
            .unwrap_or_default();
        if params.get("status").map(String::as_str) != Some("success") {
            return Err(Retry(format!("callback: {} {location}", landed.status())));
        }
        // What the integrator's page is told must name this link and this customer.
        assert_eq!(params.get("onboarding_link_id"), Some(&link), "{location}");
        assert_eq!(
            params.get("external_id").map(String::as_str),
            Some(external_id),
            "{location}"
        );
        let phone_id = params
            .get("phone_number_id")
            .unwrap_or_else(|| panic!("no phone_number_id in the success redirect {location}"));
        Ok(phone_id.clone())
    }
}

/// A number of onboardings from the environment variable `name`, or `default`.
pub fn count_from_env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}
