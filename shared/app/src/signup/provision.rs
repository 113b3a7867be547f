//! Meta's side of an attempt: exchange the code, check what the token grants, find the number,
//! subscribe our app to the WABA and register the number.

use super::{Attempt, CallbackInput, Finish};
use crate::{decide, load, App, AppError};
use gangway_domain::link::LinkCommand;
use gangway_domain::phone::{e164, Phone, PhoneCommand, PhoneCreated};
use gangway_domain::signup::LinkCompletion;
use gangway_domain::values::ConnectionType;
use gangway_domain::{FailureCode, OrganizationId, PhoneId, SecretRef, WabaId};
use gangway_meta_graph::model::PhoneNumber;
use gangway_meta_graph::{GraphClient, GraphError, Token, MAX_PAGES};
use rand::Rng;
use std::time::Duration;

/// Time for the attempt's own writes beside Meta's calls.
const OWN_WORK: Duration = Duration::from_secs(30);

/// How long an attempt may hold its link before another may start: Meta's side at its slowest,
/// every retry of every call spent, plus our own writes. The calls are those [`connect`] makes:
/// the code exchange, the registration and two coexistence syncs once each; `debug_token`, the
/// WABA subscription and up to `MAX_PAGES` pages of numbers with retries.
pub fn attempt_timeout(graph: &GraphClient) -> chrono::Duration {
    let once = graph.longest_single_call() * 4;
    let retried = graph.longest_retried_call() * (2 + MAX_PAGES);
    chrono::Duration::from_std(once + retried + OWN_WORK).unwrap_or(chrono::Duration::MAX)
}

/// Why an attempt failed, as the integrator is told.
pub type Failure = (FailureCode, String);

fn graph_failure(error: GraphError) -> Failure {
    tracing::warn!(%error, "Meta refused a signup step");
    let message = match &error {
        GraphError::Api { body, .. } => body.message.clone(),
        GraphError::Transport(_) => "Meta could not be reached".into(),
    };
    (error.failure_code(), message)
}

fn fail(code: FailureCode, message: impl Into<String>) -> Failure {
    (code, message.into())
}

/// Runs Meta's side; `Ok(Err(failure))` when Meta refused or the result is unusable.
pub async fn connect(
    app: &App,
    attempt: &mut Attempt,
    input: &CallbackInput,
) -> Result<Result<Finish, Failure>, AppError> {
    let graph = &app.graph;
    let code = input.code.as_deref().unwrap_or_default();
    let token = match graph.exchange_code(code, input.redirect_uri.as_deref()).await {
        Ok(token) => token,
        Err(error) => return Ok(Err(graph_failure(error))),
    };
    let org = attempt.link().organization_id;
    let token_ref = app
        .vault
        .store(app.pool(), org, "meta_business_token", &token.0)
        .await?;
    let info = match graph.debug_token(&token).await {
        Ok(debug) => debug.data,
        Err(error) => return Ok(Err(graph_failure(error))),
    };
    let granted: Vec<String> = info.granted_wabas().into_iter().map(str::to_owned).collect();
    attempt
        .record(
            app,
            LinkCommand::RecordTokenExchange {
                token_ref,
                granted_waba_ids: granted.clone(),
            },
        )
        .await?;
    if !info.is_usable_by(&graph.config().app_id) {
        return Ok(Err(fail(
            FailureCode::FacebookAuthFailed,
            "the token Meta issued is not valid for WhatsApp Business management",
        )));
    }
    let meta_waba_id = match choose_waba(&granted, input.report.waba_id.as_deref()) {
        Ok(id) => id,
        Err(failure) => return Ok(Err(failure)),
    };
    match attempt.link().spec.reconnect_phone_number_id {
        Some(phone_id) => {
            reconnect(
                app,
                attempt,
                input,
                &token,
                token_ref,
                &meta_waba_id,
                phone_id.into(),
            )
            .await
        }
        None => onboard(app, attempt, input, &token, token_ref, &meta_waba_id).await,
    }
}

/// The WABA the person picked, which the token must have been granted; the only granted one when
/// the browser reported none (the full-page flow).
fn choose_waba(granted: &[String], reported: Option<&str>) -> Result<String, Failure> {
    match reported.filter(|id| !id.is_empty()) {
        Some(id) if granted.iter().any(|g| g == id) => Ok(id.to_owned()),
        Some(_) => Err(fail(
            FailureCode::FacebookAuthFailed,
            "the WhatsApp Business Account reported by the browser was not granted to Gangway",
        )),
        None => match granted {
            [only] => Ok(only.clone()),
            [] => Err(fail(
                FailureCode::FacebookAuthFailed,
                "no WhatsApp Business Account was shared",
            )),
            [first, ..] => Ok(first.clone()),
        },
    }
}

/// The number to connect: the one reported (it must be in the WABA), else the WABA's Business-app
/// number for coexistence, else its verified Cloud API number.
async fn choose_phone(
    app: &App,
    token: &Token,
    meta_waba_id: &str,
    reported: Option<&str>,
    coexistence: bool,
) -> Result<Result<PhoneNumber, Failure>, AppError> {
    let wanted = |n: &PhoneNumber| match reported {
        Some(id) => n.id == id,
        None => (n.is_on_biz_app == Some(true)) == coexistence,
    };
    let found = match app.graph.find_phone_number(token, meta_waba_id, wanted).await {
        Ok(found) => found,
        Err(error) => return Ok(Err(graph_failure(error))),
    };
    Ok(found.ok_or_else(|| {
        fail(
            FailureCode::PhoneVerificationFailed,
            "no phone number of the WhatsApp Business Account could be connected",
        )
    }))
}

async fn onboard(
    app: &App,
    attempt: &mut Attempt,
    input: &CallbackInput,
    token: &Token,
    token_ref: SecretRef,
    meta_waba_id: &str,
) -> Result<Result<Finish, Failure>, AppError> {
    let report = &input.report;
    let connection_type = if report.is_coexistence() {
        ConnectionType::Coexistence
    } else {
        ConnectionType::Dedicated
    };
    if !attempt
        .link()
        .spec
        .allowed_connection_types
        .contains(&connection_type)
    {
        return Ok(Err(fail(
            FailureCode::FacebookAuthFailed,
            "this link does not allow this kind of connection",
        )));
    }
    let coexistence = connection_type == ConnectionType::Coexistence;
    let number = match choose_phone(
        app,
        token,
        meta_waba_id,
        report.reported_phone_number_id(),
        coexistence,
    )
    .await?
    {
        Ok(number) => number,
        Err(failure) => return Ok(Err(failure)),
    };
    if let Err(error) = app.graph.subscribe_app(token, meta_waba_id).await {
        return Ok(Err(graph_failure(error)));
    }
    let org = attempt.link().organization_id;
    // Coexistence numbers stay on the Business app: they are synced, never registered.
    let pin_ref = if coexistence {
        None
    } else {
        let (pin_ref, pin) = registration_pin(app, org, &number.id).await?;
        // A number we registered before (it has our PIN) that Meta reports registered on the
        // Cloud API needs no second registration, which would only count toward Meta's limit of
        // 10 per 72 hours. A number with no PIN of ours is registered, so that one registered
        // elsewhere is found out (133005).
        let ours_and_registered = pin.kept_before && registered_on_cloud_api(&number);
        if !ours_and_registered {
            if let Err(error) = app.graph.register_phone(token, &number.id, &pin.digits).await {
                return Ok(Err(graph_failure(error)));
            }
        }
        Some(pin_ref)
    };
    let sync_request_ids = if coexistence {
        sync_business_app(app, token, &number.id).await
    } else {
        Vec::new()
    };
    let link = attempt.link();
    let existing: Option<uuid::Uuid> = sqlx::query_scalar(
        "SELECT phone_id FROM phone_number_ids WHERE organization_id = $1 AND meta_phone_number_id = $2",
    )
    .bind(org.as_uuid())
    .bind(&number.id)
    .fetch_optional(app.pool())
    .await?;
    if let Some(phone_id) = existing {
        // The number was onboarded before: this is a reconnection of the same phone.
        return reconnected(app, attempt, token_ref, PhoneId::from_uuid(phone_id)).await;
    }
    let phone_id = PhoneId::new();
    let waba_id = WabaId::for_meta(org, meta_waba_id);
    let phone_number = e164(number.display_phone_number.as_deref().unwrap_or_default());
    let created = PhoneCommand::Create(Box::new(PhoneCreated {
        customer_id: link.spec.customer_id,
        external_id: link.spec.external_id.clone(),
        onboarding_link_id: link.id,
        phone_number_id: number.id.clone(),
        phone_number: phone_number.clone(),
        verified_name: number.verified_name.clone(),
        waba_id,
        meta_waba_id: meta_waba_id.to_owned(),
        business_id: report.business_id.clone(),
        connection_type,
        token_ref,
        pin_ref,
        is_registered: !coexistence,
        sync_request_ids,
    }));
    Ok(Ok(Finish {
        completion: LinkCompletion {
            phone_id,
            phone_number_id: number.id.clone(),
            phone_number,
            waba_id,
            meta_waba_id: meta_waba_id.to_owned(),
            connection_type,
            is_phone_registered: !coexistence,
            reconnected: false,
            customer: None, // the link's decide names it
        },
        phone: phone_append(decide::<Phone>(None, phone_id, &created, attempt.meta())?)?,
        claim: Some((number.id, phone_id)),
    }))
}

/// Starts the coexistence syncs (contacts, then history) after the WABA subscription, so their
/// webhooks reach us. A refused sync does not undo the connection: the number works, and support
/// can see the missing request id.
async fn sync_business_app(app: &App, token: &Token, phone_number_id: &str) -> Vec<String> {
    let mut request_ids = Vec::new();
    for sync_type in ["smb_app_state_sync", "history"] {
        match app
            .graph
            .sync_smb_app_data(token, phone_number_id, sync_type)
            .await
        {
            Ok(request_id) => request_ids.push(request_id),
            Err(error) => tracing::warn!(%error, sync_type, "Meta refused a coexistence sync"),
        }
    }
    request_ids
}

/// A reconnect link: the same number comes back with a fresh token; no new WABA or phone.
async fn reconnect(
    app: &App,
    attempt: &mut Attempt,
    input: &CallbackInput,
    token: &Token,
    token_ref: SecretRef,
    meta_waba_id: &str,
    phone_id: PhoneId,
) -> Result<Result<Finish, Failure>, AppError> {
    let org = attempt.link().organization_id;
    let Some(phone) = load::<Phone>(app.pool(), org, phone_id).await? else {
        return Ok(Err(fail(
            FailureCode::FacebookAuthFailed,
            "the phone number this link reconnects no longer exists",
        )));
    };
    let details = &phone.state.details;
    let same_number = input
        .report
        .reported_phone_number_id()
        .is_none_or(|reported| reported == details.phone_number_id);
    if details.meta_waba_id != meta_waba_id || !same_number {
        return Ok(Err(fail(
            FailureCode::FacebookAuthFailed,
            "a different number was chosen than the one this link reconnects",
        )));
    }
    if let Err(error) = app.graph.subscribe_app(token, meta_waba_id).await {
        return Ok(Err(graph_failure(error)));
    }
    reconnected(app, attempt, token_ref, phone_id).await
}

async fn reconnected(
    app: &App,
    attempt: &Attempt,
    token_ref: SecretRef,
    phone_id: PhoneId,
) -> Result<Result<Finish, Failure>, AppError> {
    let link = attempt.link();
    let phone = load::<Phone>(app.pool(), link.organization_id, phone_id)
        .await?
        .ok_or(AppError::NotFound("phone number"))?;
    let reconnect = PhoneCommand::Reconnect {
        onboarding_link_id: link.id,
        token_ref,
    };
    let reconnected = decide(Some(&phone), phone_id, &reconnect, attempt.meta())?;
    let Phone { details, .. } = &phone.state;
    Ok(Ok(Finish {
        completion: LinkCompletion {
            phone_id,
            phone_number_id: details.phone_number_id.clone(),
            phone_number: details.phone_number.clone(),
            waba_id: details.waba_id,
            meta_waba_id: details.meta_waba_id.clone(),
            connection_type: details.connection_type,
            is_phone_registered: details.is_registered,
            reconnected: true,
            customer: None, // the link's decide names it
        },
        phone: phone_append(reconnected)?,
        claim: None,
    }))
}

/// A phone's creation or reconnection always appends.
fn phone_append(decided: crate::Decided<Phone>) -> Result<gangway_event_store::StreamAppend, AppError> {
    decided
        .append
        .ok_or_else(|| anyhow::anyhow!("a phone command came to no event").into())
}

fn registered_on_cloud_api(number: &PhoneNumber) -> bool {
    number.status.as_deref() == Some("CONNECTED") && number.platform_type.as_deref() == Some("CLOUD_API")
}

/// A number's registration PIN: `kept_before` when an earlier onboarding chose it.
struct Pin {
    digits: String,
    kept_before: bool,
}

/// The PIN to register `meta_phone_number_id` with: the one chosen for the number before (in any
/// organization: Meta keeps one two-step PIN per number), or a new one, kept in the vault before
/// Meta ever sees it.
async fn registration_pin(
    app: &App,
    org: OrganizationId,
    meta_phone_number_id: &str,
) -> Result<(SecretRef, Pin), AppError> {
    let known: Option<(uuid::Uuid, uuid::Uuid)> = sqlx::query_as(
        "SELECT pin_ref, organization_id FROM registration_pins WHERE meta_phone_number_id = $1",
    )
    .bind(meta_phone_number_id)
    .fetch_optional(app.pool())
    .await?;
    let (pin_ref, owner) = match known {
        Some((pin_ref, owner)) => (SecretRef::from_uuid(pin_ref), OrganizationId::from_uuid(owner)),
        None => {
            let pin = format!("{:06}", rand::thread_rng().gen_range(0..1_000_000));
            let mut tx = app.pool().begin().await?;
            let stored = app.vault.store(&mut *tx, org, "registration_pin", &pin).await?;
            // Two attempts racing for a new number agree on whichever PIN was kept first.
            let (kept, owner): (uuid::Uuid, uuid::Uuid) = sqlx::query_as(
                "INSERT INTO registration_pins (organization_id, meta_phone_number_id, pin_ref) \
                 VALUES ($1, $2, $3) \
                 ON CONFLICT (meta_phone_number_id) \
                 DO UPDATE SET meta_phone_number_id = EXCLUDED.meta_phone_number_id \
                 RETURNING pin_ref, organization_id",
            )
            .bind(org.as_uuid())
            .bind(meta_phone_number_id)
            .bind(stored.as_uuid())
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            (SecretRef::from_uuid(kept), OrganizationId::from_uuid(owner))
        }
    };
    let digits = app.vault.reveal(app.pool(), owner, pin_ref).await?;
    Ok((
        pin_ref,
        Pin {
            digits,
            kept_before: known.is_some(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use gangway_meta_graph::GraphConfig;

    fn graph(timeout: u64, max_retry: u64) -> GraphClient {
        GraphClient::new(GraphConfig {
            base_url: "http://127.0.0.1:1".into(),
            api_version: "v25.0".into(),
            app_id: "1".into(),
            app_secret: "s".into(),
            timeout: Duration::from_secs(timeout),
            max_retry: Duration::from_secs(max_retry),
        })
        .unwrap()
    }

    #[test]
    fn an_attempt_outlasts_metas_slowest_answer() {
        // The defaults (GANGWAY_META_TIMEOUT_SECONDS 10, _MAX_RETRY_SECONDS 20): 4 single calls
        // of 10 s, 52 retried calls (debug_token, the subscription, 50 pages of numbers) of 30 s,
        // 30 s of our own.
        assert_eq!(attempt_timeout(&graph(10, 20)), chrono::Duration::seconds(1_630));
        // Slower settings make a longer attempt, never one shorter than its calls.
        assert_eq!(
            attempt_timeout(&graph(30, 120)),
            chrono::Duration::seconds(4 * 30 + 52 * 150 + 30)
        );
    }
}
