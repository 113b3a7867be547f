//! The hosted signup pages: `/signup/{id}` (landing), its callback and the full-page return.
//! These answer people in browsers, so every outcome is a page or a redirect, never JSON.

mod contrast;
mod cookie;
mod page;
mod text;

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use gangway_app::redirects::signed_redirect;
use gangway_app::signup::{complete_link, new_session, open_link, CallbackInput, CallbackOutcome};
use gangway_app::{load_any, now, AppError};
use gangway_domain::link::Link;
use gangway_domain::signup::{SignupCallback, Usability};
use gangway_domain::{FailureCode, LinkId};
use serde::Deserialize;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/signup/{id}", get(landing))
        .route("/signup/{id}/callback", post(callback))
        .route("/signup/{id}/return", get(full_page_return))
        .route("/signup/{id}/result", get(result))
}

fn not_found() -> Response {
    let t = page::words(None);
    page::message(StatusCode::NOT_FOUND, None, t.not_found, t.not_found, "not_found")
}

fn link_id(raw: &str) -> Option<LinkId> {
    Uuid::parse_str(raw).ok().map(LinkId::from_uuid)
}

/// A callback that cannot be this person's session (a forged `state`, text no browser sends):
/// a page saying so.
fn invalid_session(code: &str) -> Response {
    let t = page::words(None);
    page::message(
        StatusCode::BAD_REQUEST,
        None,
        t.invalid_session,
        t.invalid_session,
        code,
    )
}

/// Any failure below is a page for the person, logged for us.
fn unavailable(error: impl std::fmt::Display) -> Response {
    tracing::error!(%error, "a hosted page could not be served");
    page::message(
        StatusCode::SERVICE_UNAVAILABLE,
        None,
        "Service unavailable",
        "Something went wrong on our side. Please try again in a moment.",
        "service_unavailable",
    )
}

/// `GET /signup/{id}`: the landing page. The first visit records `onboarding_link.opened`; a
/// link past its expiry is recorded as expired on the spot.
async fn landing(State(state): State<AppState>, Path(raw): Path<String>, headers: HeaderMap) -> Response {
    let Some(id) = link_id(&raw) else {
        return not_found();
    };
    match open_link(&state.app, id).await {
        Ok(Some(link)) => match link.usability(now()) {
            Usability::Usable => {
                let browser_nonce = cookie::nonce(&headers);
                let session = new_session(&state.app.vault, id, browser_nonce.as_deref(), now());
                let mut page = page::signup(&state, &link, &session.state);
                let secure = state.config.public_url().starts_with("https://");
                cookie::set(&mut page, id, &session, secure);
                page
            }
            Usability::Refused(code) => refused(&state, &link, code).await,
            Usability::Gone => not_found(),
        },
        Ok(None) => not_found(),
        Err(error) => unavailable(error),
    }
}

/// A link that cannot be used: to the failure URL with the code, or a page saying why.
async fn refused(state: &AppState, link: &Link, code: FailureCode) -> Response {
    let t = page::words(Some(link));
    match failure_redirect(link, code, t.refusal(code)) {
        Some(url) => redirect_back(state, link, url).await,
        None => page::message(
            StatusCode::GONE,
            Some(link),
            t.failed_heading,
            t.refusal(code),
            code.as_str(),
        ),
    }
}

/// To the integrator's page, signed with its organization's redirect secret. Should the
/// signature fail, the browser still goes back, unsigned: the integrator's check then sends it
/// to the API for the link's outcome, which is better than stranding the person here.
async fn redirect_back(state: &AppState, link: &Link, url: url::Url) -> Response {
    let url = match signed_redirect(&state.app, link.organization_id, &url).await {
        Ok(signed) => signed,
        Err(error) => {
            tracing::warn!(%error, link_id = %link.id, "signing the redirect failed; sent unsigned");
            url.into()
        }
    };
    Redirect::to(&url).into_response()
}

fn with_params(base: &str, params: &[(&str, Option<&str>)]) -> Option<url::Url> {
    let mut url = url::Url::parse(base).ok()?;
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in params {
            if let Some(value) = value {
                query.append_pair(name, value);
            }
        }
    }
    Some(url)
}

fn failure_redirect(link: &Link, code: FailureCode, message: &str) -> Option<url::Url> {
    let base = link.failure_redirect()?;
    with_params(
        base.as_str(),
        &[
            ("status", Some("error")),
            ("onboarding_link_id", Some(&link.id.to_string())),
            ("external_id", link.spec.external_id.as_deref()),
            ("error_code", Some(code.as_str())),
            ("error", Some(message)),
        ],
    )
}

fn success_redirect(link: &Link) -> Option<url::Url> {
    let base = link.success_redirect()?;
    let completion = link.completion.as_ref()?;
    with_params(
        base.as_str(),
        &[
            ("status", Some("success")),
            ("onboarding_link_id", Some(&link.id.to_string())),
            ("external_id", link.spec.external_id.as_deref()),
            ("phone_number_id", Some(&completion.phone_id.to_string())),
            ("waba_id", Some(&completion.waba_id.to_string())),
            ("display_phone_number", Some(&completion.phone_number)),
            ("meta_phone_number_id", Some(&completion.phone_number_id)),
            ("meta_waba_id", Some(&completion.meta_waba_id)),
        ],
    )
}

/// The callback's fields as the hosted page posts them (see docs/embedded-signup.md).
#[derive(Debug, Default, Deserialize)]
struct CallbackForm {
    state: Option<String>,
    code: Option<String>,
    event: Option<String>,
    waba_id: Option<String>,
    phone_number_id: Option<String>,
    business_id: Option<String>,
    current_step: Option<String>,
    error_code: Option<String>,
    error_message: Option<String>,
    session_id: Option<String>,
}

/// Browser-reported text is kept, but bounded.
fn bounded(value: Option<String>) -> Option<String> {
    value
        .map(|v| v.trim().chars().take(500).collect::<String>())
        .filter(|v| !v.is_empty())
}

impl CallbackForm {
    /// Whether any field holds U+0000, which no browser sends and Postgres cannot store.
    fn holds_nul(&self) -> bool {
        [
            &self.state,
            &self.code,
            &self.event,
            &self.waba_id,
            &self.phone_number_id,
            &self.business_id,
            &self.current_step,
            &self.error_code,
            &self.error_message,
            &self.session_id,
        ]
        .into_iter()
        .flatten()
        .any(|field| field.contains('\0'))
    }

    fn into_input(self, redirect_uri: Option<String>, browser_nonce: Option<String>) -> CallbackInput {
        let code = bounded(self.code);
        let report = SignupCallback {
            session_event: bounded(self.event),
            waba_id: bounded(self.waba_id),
            phone_number_id: self
                .phone_number_id
                .map(|id| id.trim().chars().take(100).collect()),
            business_id: bounded(self.business_id),
            current_step: bounded(self.current_step),
            error_code: bounded(self.error_code),
            error_message: bounded(self.error_message),
            session_id: bounded(self.session_id),
            has_code: code.is_some(),
            full_page: redirect_uri.is_some(),
        };
        CallbackInput {
            state: self.state.unwrap_or_default(),
            browser_nonce,
            code,
            redirect_uri,
            report,
        }
    }
}

/// `POST /signup/{id}/callback`, form-encoded or JSON; answered with 303 to where the person
/// goes next.
async fn callback(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let Some(id) = link_id(&raw) else {
        return not_found();
    };
    if !same_origin(&state, &headers) {
        return invalid_session("invalid_origin");
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let form: Result<CallbackForm, String> = if is_json {
        serde_json::from_slice(&body).map_err(|e| e.to_string())
    } else {
        serde_urlencoded::from_bytes(&body).map_err(|e| e.to_string())
    };
    match form {
        Ok(form) if form.holds_nul() => invalid_session("invalid_request"),
        Ok(form) => finish(&state, id, form.into_input(None, cookie::nonce(&headers))).await,
        Err(error) => {
            ApiError::MalformedJson(format!("the callback body is not readable: {error}")).into_response()
        }
    }
}

/// A callback posted from another site (a page that tricks a person's browser into posting
/// here) is refused; browsers send `Origin` with every POST, and one without it is judged by its
/// `state` and cookie alone.
fn same_origin(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let ours = url::Url::parse(state.config.public_url()).map(|url| url.origin().ascii_serialization());
    matches!((origin.to_str(), ours), (Ok(origin), Ok(ours)) if origin == ours)
}

/// `GET /signup/{id}/return`: where the full-page dialog sends the browser, with `code` and
/// `state`, or `error` and `error_description`.
#[derive(Debug, Deserialize)]
struct ReturnQuery {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

async fn full_page_return(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    Query(query): Query<ReturnQuery>,
    headers: HeaderMap,
) -> Response {
    let Some(id) = link_id(&raw) else {
        return not_found();
    };
    let cancelled = query.error.is_some();
    let form = CallbackForm {
        state: query.state,
        code: query.code,
        event: cancelled.then(|| "CANCEL".to_owned()),
        error_message: query.error_description.or(query.error),
        ..Default::default()
    };
    if form.holds_nul() {
        return invalid_session("invalid_request");
    }
    let redirect_uri = format!("{}/signup/{id}/return", state.config.public_url());
    let input = form.into_input(Some(redirect_uri), cookie::nonce(&headers));
    finish(&state, id, input).await
}

async fn finish(state: &AppState, id: LinkId, input: CallbackInput) -> Response {
    match complete_link(&state.app, id, input).await {
        Ok(Some((link, CallbackOutcome::Completed(_)))) => match success_redirect(&link) {
            Some(url) => redirect_back(state, &link, url).await,
            None => Redirect::to(&format!("/signup/{id}/result")).into_response(),
        },
        Ok(Some((link, CallbackOutcome::Failed { code, message }))) => {
            match failure_redirect(&link, code, &message) {
                Some(url) => redirect_back(state, &link, url).await,
                None => {
                    let t = page::words(Some(&link));
                    page::message(
                        StatusCode::OK,
                        Some(&link),
                        t.failed_heading,
                        &message,
                        code.as_str(),
                    )
                }
            }
        }
        Ok(None) => not_found(),
        Err(AppError::Validation(error)) if error.field == "state" => invalid_session("invalid_state"),
        Err(error) => unavailable(error),
    }
}

/// `GET /signup/{id}/result`: where a link without redirect URLs ends.
async fn result(State(state): State<AppState>, Path(raw): Path<String>) -> Response {
    let Some(id) = link_id(&raw) else {
        return not_found();
    };
    let link = match load_any::<Link>(state.pool(), id).await {
        Ok(Some(loaded)) => loaded.state,
        Ok(None) => return not_found(),
        Err(error) => return unavailable(error),
    };
    let t = page::words(Some(&link));
    if link.completion.is_some() {
        return page::message(
            StatusCode::OK,
            Some(&link),
            t.connected_heading,
            t.connected,
            "success",
        );
    }
    match (&link.last_failure, link.usability(now())) {
        (_, Usability::Gone) => not_found(),
        (_, Usability::Refused(code)) => refused(&state, &link, code).await,
        (Some(failure), Usability::Usable) => page::message(
            StatusCode::OK,
            Some(&link),
            t.failed_heading,
            &failure.error,
            failure.error_code.as_str(),
        ),
        (None, Usability::Usable) => Redirect::to(&format!("/signup/{id}")).into_response(),
    }
}
