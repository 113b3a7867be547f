//! A console user over HTTP: a browser-like client that keeps cookies and does not follow
//! redirects, so tests see each answer as it was sent.

use reqwest::header::{LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;

pub struct ConsoleClient {
    pub http: reqwest::Client,
    base_url: String,
}

/// One answer: status, `Location`, `Set-Cookie` headers and body.
pub struct Answer {
    pub status: u16,
    pub location: Option<String>,
    pub cookies: Vec<String>,
    pub body: String,
}

impl ConsoleClient {
    pub fn new(base_url: &str) -> Self {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(Policy::none())
            .build()
            .expect("a client");
        Self {
            http,
            base_url: base_url.to_owned(),
        }
    }

    async fn answer(response: reqwest::Response) -> Answer {
        let header = |name| {
            response
                .headers()
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok().map(str::to_owned))
                .collect::<Vec<_>>()
        };
        let location = header(LOCATION).into_iter().next();
        let cookies = header(SET_COOKIE);
        Answer {
            status: response.status().as_u16(),
            location,
            cookies,
            body: response.text().await.expect("a body"),
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        let response = self
            .http
            .get(format!("{}{path}", self.base_url))
            .send()
            .await
            .expect("GET");
        Self::answer(response).await
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Answer {
        let response = self
            .http
            .post(format!("{}{path}", self.base_url))
            .form(form)
            .send()
            .await
            .expect("POST");
        Self::answer(response).await
    }

    /// Signs in to the organization console with `key` through its form; the answer to the post.
    pub async fn sign_in(&self, key: &str) -> Answer {
        self.sign_in_at("/console", key).await
    }

    /// Signs in to the console at `console` (`/console` or `/ops`) with `credential`.
    pub async fn sign_in_at(&self, console: &str, credential: &str) -> Answer {
        let login = format!("{console}/login");
        let form = self.get(&login).await;
        let token = field_value(&form.body, "csrf").expect("the sign-in form carries a token");
        self.post(&login, &[("csrf", &token), ("credential", credential)])
            .await
    }
}

/// The `value` of the first input named `name` in a page.
pub fn field_value(page: &str, name: &str) -> Option<String> {
    let at = page.find(&format!("name=\"{name}\" value=\""))?;
    let rest = &page[at + name.len() + 15..];
    let raw = &rest[..rest.find('"')?];
    Some(
        raw.replace("&#x2f;", "/")
            .replace("&quot;", "\"")
            .replace("&#x27;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}
