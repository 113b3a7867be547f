//! Completing a link from the browser's callback: claim the attempt, ask Meta, record the outcome.
//!
//! Of many concurrent callbacks for one link exactly one starts an attempt (the link is locked
//! while `callback_received` is appended, and a link with an attempt under way refuses others).
//! No transaction is held while Meta is called.

mod link_endpoint;
mod provision;

use super::{find_link, lock_entity, metadata, new_event, now, Loaded, MAX_ATTEMPTS};
use crate::error::ApiError;
use crate::state::AppState;
use gangway_domain::link::{Link, LinkEvent};
use gangway_domain::signup::{LinkCompletion, SignupCallback, Usability};
use gangway_domain::{FailureCode, LinkId};
use gangway_event_store::{EventMetadata, ExpectedVersion, StoreError, StreamAppend, StreamRef};
use uuid::Uuid;

/// The purpose the signup `state` is signed for.
pub const STATE_PURPOSE: &str = "signup-state";

/// What the browser sent back.
pub struct CallbackInput {
    pub state: String,
    pub code: Option<String>,
    /// Set for the full-page dialog, which must exchange its code with the same redirect_uri.
    pub redirect_uri: Option<String>,
    pub report: SignupCallback,
}

#[derive(Debug)]
pub enum CallbackOutcome {
    Completed(Box<LinkCompletion>),
    Failed { code: FailureCode, message: String },
}

/// The `state` the hosted page is rendered with: binds a callback to its link.
pub fn state_for(state: &AppState, link: LinkId) -> String {
    state.vault.sign(STATE_PURPOSE, link.as_uuid().as_bytes())
}

/// Handles one callback. `Ok(None)` when there is no such link (or it was deleted).
#[tracing::instrument(skip_all, fields(link = %link_id))]
pub async fn complete_link(
    state: &AppState,
    link_id: LinkId,
    input: CallbackInput,
) -> Result<Option<(Link, CallbackOutcome)>, ApiError> {
    if !state
        .vault
        .verify(STATE_PURPOSE, link_id.as_uuid().as_bytes(), &input.state)
    {
        return Err(ApiError::validation(
            "state",
            "does not belong to this link; start again from the link's page",
        ));
    }
    let mut attempt = match begin_attempt(state, link_id, &input.report).await? {
        Begun::Gone => return Ok(None),
        Begun::Refused(link, code) => {
            let message = refusal_message(code).to_owned();
            return Ok(Some((link, CallbackOutcome::Failed { code, message })));
        }
        Begun::Started(attempt) => attempt,
    };
    let outcome = match input.report.refusal() {
        Some((code, message)) => Err((code, message)),
        None => match provision::connect(state, &mut attempt, &input).await {
            Ok(outcome) => outcome,
            // The link changed under the attempt (expired, deleted): say what it is now.
            Err(ApiError::Conflict { .. }) => return attempt.lost_race(state).await.map(Some),
            Err(other) => return Err(other),
        },
    };
    let outcome = match outcome {
        Ok(finish) => attempt.finish(state, finish).await?,
        Err((code, message)) => {
            attempt
                .fail(state, code, message, input.report.current_step.clone())
                .await?
        }
    };
    Ok(Some(outcome))
}

pub fn refusal_message(code: FailureCode) -> &'static str {
    match code {
        FailureCode::AlreadyUsed => "this onboarding link has already been used",
        FailureCode::LinkExpired => "this onboarding link has expired",
        FailureCode::LinkRevoked => "this onboarding link was replaced by a newer one",
        _ => "this onboarding link cannot be used",
    }
}

enum Begun {
    Started(Attempt),
    Refused(Link, FailureCode),
    Gone,
}

/// An attempt under way: the link as of `callback_received`, and the version to append at.
pub struct Attempt {
    link: Link,
    version: i64,
    meta: EventMetadata,
}

async fn begin_attempt(state: &AppState, id: LinkId, report: &SignupCallback) -> Result<Begun, ApiError> {
    let mut tx = state.store.begin().await?;
    lock_entity(tx.connection(), id.as_uuid()).await?;
    let Some(Loaded { state: link, version }) = find_link(tx.connection(), id).await? else {
        return Ok(Begun::Gone);
    };
    let now = now();
    let meta = metadata(link.organization_id, Uuid::now_v7(), now);
    match link.begin_attempt(now) {
        Usability::Gone => Ok(Begun::Gone),
        Usability::Refused(code) => {
            if let Some(expired) = link.expire(now) {
                append_to_link(&mut tx, id, version, &[expired], &meta).await?;
                tx.commit().await?;
            }
            Ok(Begun::Refused(link, code))
        }
        Usability::Usable => {
            let received = LinkEvent::CallbackReceived(Box::new(report.clone()));
            append_to_link(&mut tx, id, version, std::slice::from_ref(&received), &meta).await?;
            tx.commit().await?;
            let org = link.organization_id;
            let link = Link::evolve(Some(link), id, org, &received, now).expect("a link stays a link");
            Ok(Begun::Started(Attempt {
                link,
                version: version + 1,
                meta,
            }))
        }
    }
}

async fn append_to_link(
    tx: &mut gangway_event_store::AppendTransaction,
    id: LinkId,
    version: i64,
    events: &[LinkEvent],
    meta: &EventMetadata,
) -> Result<(), StoreError> {
    let events = events
        .iter()
        .map(|e| new_event(e, meta))
        .collect::<Result<_, _>>()?;
    tx.append_all(vec![StreamAppend {
        stream: StreamRef::of::<LinkEvent>(id.as_uuid()),
        expected: ExpectedVersion::Exact(version),
        events,
    }])
    .await?;
    Ok(())
}

/// The events that complete an attempt, beyond the link's own `completed`.
pub struct Finish {
    pub completion: LinkCompletion,
    /// The phone's stream: `created` for a new number, `reconnected` for a known one.
    pub phone: StreamAppend,
    /// The claim of the Meta phone number id for a new phone, made in the same transaction.
    pub claim: Option<(String, gangway_domain::PhoneId)>,
}

impl Attempt {
    pub fn link(&self) -> &Link {
        &self.link
    }

    pub fn meta(&self) -> &EventMetadata {
        &self.meta
    }

    /// Appends an event of the attempt to the link (e.g. `token_exchanged`).
    pub async fn record(&mut self, state: &AppState, event: LinkEvent) -> Result<(), ApiError> {
        let stream = StreamRef::of::<LinkEvent>(self.link.id.as_uuid());
        let recorded = new_event(&event, &self.meta)?;
        state
            .store
            .append(&stream, ExpectedVersion::Exact(self.version), vec![recorded])
            .await?;
        self.version += 1;
        let (id, org) = (self.link.id, self.link.organization_id);
        self.link = Link::evolve(Some(self.link.clone()), id, org, &event, self.meta.occurred_at)
            .expect("a link stays a link");
        Ok(())
    }

    async fn finish(self, state: &AppState, finish: Finish) -> Result<(Link, CallbackOutcome), ApiError> {
        let completed = LinkEvent::Completed(Box::new(finish.completion.clone()));
        for _ in 0..MAX_ATTEMPTS {
            let mut tx = state.store.begin().await?;
            if let Some((meta_phone_id, phone_id)) = &finish.claim {
                sqlx::query(
                    "INSERT INTO phone_number_ids (organization_id, meta_phone_number_id, phone_id, meta_waba_id) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(self.link.organization_id.as_uuid())
                .bind(meta_phone_id)
                .bind(phone_id.as_uuid())
                .bind(&finish.completion.meta_waba_id)
                .execute(&mut *tx.connection())
                .await?;
            }
            let mut appends: Vec<StreamAppend> = link_endpoint::registered_endpoint(
                state,
                tx.connection(),
                &self.link,
                finish.completion.waba_id,
                &self.meta,
            )
            .await?
            .into_iter()
            .collect();
            appends.extend([
                StreamAppend {
                    stream: StreamRef::of::<LinkEvent>(self.link.id.as_uuid()),
                    expected: ExpectedVersion::Exact(self.version),
                    events: vec![new_event(&completed, &self.meta)?],
                },
                finish.phone.clone(),
            ]);
            match tx.append_all(appends).await {
                Ok(_) => {
                    tx.commit().await?;
                    let link = self.evolved(&completed);
                    return Ok((link, CallbackOutcome::Completed(Box::new(finish.completion))));
                }
                // A shared endpoint can change without the link's lock (the dispatcher disabling
                // it): while the link itself has not moved, decide its endpoint again.
                Err(StoreError::Conflict { .. }) if self.link_unchanged(state).await? => continue,
                Err(StoreError::Conflict { .. }) => return self.lost_race(state).await,
                Err(other) => return Err(other.into()),
            }
        }
        self.lost_race(state).await
    }

    async fn link_unchanged(&self, state: &AppState) -> Result<bool, ApiError> {
        let current = find_link(state.pool(), self.link.id).await?;
        Ok(current.is_some_and(|l| l.version == self.version))
    }

    fn evolved(self, event: &LinkEvent) -> Link {
        let (id, org) = (self.link.id, self.link.organization_id);
        Link::evolve(Some(self.link), id, org, event, self.meta.occurred_at).expect("a link stays a link")
    }

    async fn fail(
        self,
        state: &AppState,
        code: FailureCode,
        message: String,
        step: Option<String>,
    ) -> Result<(Link, CallbackOutcome), ApiError> {
        tracing::info!(error_code = code.as_str(), %message, "onboarding attempt failed");
        let failed = LinkEvent::Failed {
            error_code: code,
            error: message.clone(),
            step,
        };
        let stream = StreamRef::of::<LinkEvent>(self.link.id.as_uuid());
        let result = state
            .store
            .append(
                &stream,
                ExpectedVersion::Exact(self.version),
                vec![new_event(&failed, &self.meta)?],
            )
            .await;
        match result {
            Ok(_) => {}
            Err(StoreError::Conflict { .. }) => return self.lost_race(state).await,
            Err(other) => return Err(other.into()),
        }
        let link = self.evolved(&failed);
        Ok((link, CallbackOutcome::Failed { code, message }))
    }

    /// Something else changed the link while Meta was being asked (it expired, was deleted, or
    /// the attempt timed out and another completed it): report what the link is now.
    async fn lost_race(self, state: &AppState) -> Result<(Link, CallbackOutcome), ApiError> {
        let link = find_link(state.pool(), self.link.id)
            .await?
            .ok_or(ApiError::NotFound("onboarding link"))?
            .state;
        let code = match link.usability(now()) {
            Usability::Refused(code) => code,
            _ => FailureCode::AlreadyUsed,
        };
        let message = refusal_message(code).to_owned();
        Ok((link, CallbackOutcome::Failed { code, message }))
    }
}
