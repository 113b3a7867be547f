//! Completing a link from the browser's callback: claim the attempt, ask Meta, record the outcome.
//!
//! Of many concurrent callbacks for one link exactly one starts an attempt (the link is locked
//! while `callback_received` is appended, and a link with an attempt under way refuses others).
//! No transaction is held while Meta is called.

mod link_endpoint;
mod provision;
mod session;

pub use session::{new_session, SignupSession, SESSION_LIFETIME};

use crate::{decide, load_any, lock_entity, metadata, now, App, AppError, Decided, Loaded, MAX_ATTEMPTS};
use gangway_domain::link::{Link, LinkCommand};
use gangway_domain::signup::{LinkCompletion, SignupCallback, Usability};
use gangway_domain::{Aggregate, DomainError, FailureCode, LinkId, RuleViolation};
use gangway_event_store::{EventMetadata, StoreError, StreamAppend};
use uuid::Uuid;

/// What the browser sent back.
pub struct CallbackInput {
    pub state: String,
    /// The nonce in the browser's signup cookie, if it sent one.
    pub browser_nonce: Option<String>,
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

/// The hosted page is being shown: records what opening the link means (opened, once; or
/// expired) and returns the link. `None` when there is no such link (or it was deleted).
#[tracing::instrument(skip(app))]
pub async fn open_link(app: &App, id: LinkId) -> Result<Option<Link>, AppError> {
    let Some(loaded) = load_any::<Link>(app.pool(), id).await? else {
        return Ok(None);
    };
    let now = now();
    let meta = metadata(loaded.state.organization_id, Uuid::now_v7(), now);
    let opened = match decide(Some(&loaded), id, &LinkCommand::Open { now }, &meta) {
        Ok(opened) => opened,
        Err(AppError::NotFound(_)) => return Ok(None),
        Err(other) => return Err(other),
    };
    match app.append(opened.append.clone()).await {
        // Someone else opened or changed it a moment ago: theirs is the record.
        Ok(()) | Err(StoreError::Conflict { .. }) => {}
        Err(other) => return Err(other.into()),
    }
    Ok(Some(opened.loaded_after(loaded, id, &meta)?.state))
}

/// Handles one callback. `Ok(None)` when there is no such link (or it was deleted).
#[tracing::instrument(skip_all, fields(link = %link_id))]
pub async fn complete_link(
    app: &App,
    link_id: LinkId,
    input: CallbackInput,
) -> Result<Option<(Link, CallbackOutcome)>, AppError> {
    session::check_state(
        &app.vault,
        link_id,
        &input.state,
        input.browser_nonce.as_deref(),
        now(),
    )?;
    let mut attempt = match begin_attempt(app, link_id, &input.report).await? {
        Begun::Gone => return Ok(None),
        Begun::Refused(link, code) => {
            let message = refusal_message(code).to_owned();
            return Ok(Some((link, CallbackOutcome::Failed { code, message })));
        }
        Begun::Started(attempt) => attempt,
    };
    let outcome = match input.report.refusal() {
        Some((code, message)) => Err((code, message)),
        None => match provision::connect(app, &mut attempt, &input).await {
            Ok(outcome) => outcome,
            // The link changed under the attempt (expired, deleted): say what it is now.
            Err(AppError::Conflict { .. }) => return attempt.lost_race(app).await.map(Some),
            Err(other) => return Err(other),
        },
    };
    let outcome = match outcome {
        Ok(finish) => attempt.finish(app, finish).await?,
        Err((code, message)) => {
            attempt
                .fail(app, code, message, input.report.current_step.clone())
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
    link: Loaded<Link>,
    meta: EventMetadata,
}

async fn begin_attempt(app: &App, id: LinkId, report: &SignupCallback) -> Result<Begun, AppError> {
    let mut tx = app.store.begin().await?;
    lock_entity(tx.connection(), id.as_uuid()).await?;
    let Some(loaded) = load_any::<Link>(tx.connection(), id).await? else {
        return Ok(Begun::Gone);
    };
    let now = now();
    let meta = metadata(loaded.state.organization_id, Uuid::now_v7(), now);
    let begin = LinkCommand::BeginAttempt {
        callback: Box::new(report.clone()),
        now,
        attempt_timeout: provision::attempt_timeout(&app.graph),
    };
    match Link::decide(Some(&loaded.state), &begin) {
        Ok(_) => {
            let begun = decide(Some(&loaded), id, &begin, &meta)?;
            tx.append_all(begun.append.clone().into_iter().collect()).await?;
            tx.commit().await?;
            Ok(Begun::Started(Attempt {
                link: begun.loaded_after(loaded, id, &meta)?,
                meta,
            }))
        }
        Err(DomainError::Rule(RuleViolation::LinkUnusable(code))) => {
            // A link refused because it ran out is recorded as expired on the spot.
            let expired = decide(Some(&loaded), id, &LinkCommand::Expire { now }, &meta)?;
            if let Some(append) = expired.append {
                tx.append_all(vec![append]).await?;
                tx.commit().await?;
            }
            Ok(Begun::Refused(loaded.state, code))
        }
        Err(DomainError::NotFound(_)) => Ok(Begun::Gone),
        Err(other) => Err(other.into()),
    }
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
        &self.link.state
    }

    pub fn meta(&self) -> &EventMetadata {
        &self.meta
    }

    fn decide(&self, command: &LinkCommand) -> Result<Decided<Link>, AppError> {
        decide(Some(&self.link), self.link.state.id, command, &self.meta)
    }

    /// Records a step of the attempt on the link (the token exchange).
    pub async fn record(&mut self, app: &App, command: LinkCommand) -> Result<(), AppError> {
        let decided = self.decide(&command)?;
        app.append(decided.append.clone()).await?;
        self.link = decided.loaded_after(self.link.clone(), self.link.state.id, &self.meta)?;
        Ok(())
    }

    async fn finish(self, app: &App, finish: Finish) -> Result<(Link, CallbackOutcome), AppError> {
        let completed = self.decide(&LinkCommand::Complete(Box::new(finish.completion.clone())))?;
        let link = &self.link.state;
        for _ in 0..MAX_ATTEMPTS {
            let mut tx = app.store.begin().await?;
            let moved = crate::phones::disconnect_elsewhere(
                &mut tx,
                &finish.completion.phone_number_id,
                finish.completion.phone_id,
            )
            .await?;
            if let Some((meta_phone_id, phone_id)) = &finish.claim {
                sqlx::query(
                    "INSERT INTO phone_number_ids (organization_id, meta_phone_number_id, phone_id, meta_waba_id) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(link.organization_id.as_uuid())
                .bind(meta_phone_id)
                .bind(phone_id.as_uuid())
                .bind(&finish.completion.meta_waba_id)
                .execute(&mut *tx.connection())
                .await?;
            }
            let endpoint = link_endpoint::registered_endpoint(
                app,
                tx.connection(),
                link,
                finish.completion.waba_id,
                &self.meta,
            )
            .await?;
            let appends = endpoint
                .into_iter()
                .chain(completed.append.clone())
                .chain([finish.phone.clone()])
                .chain(moved)
                .collect();
            match tx.append_all(appends).await {
                Ok(_) => {
                    tx.commit().await?;
                    let id = self.link.state.id;
                    let link = completed.loaded_after(self.link, id, &self.meta)?.state;
                    return Ok((link, CallbackOutcome::Completed(Box::new(finish.completion))));
                }
                // A shared endpoint can change without the link's lock (the dispatcher disabling
                // it): while the link itself has not moved, decide its endpoint again.
                Err(StoreError::Conflict { .. }) if self.link_unchanged(app).await? => continue,
                Err(StoreError::Conflict { .. }) => return self.lost_race(app).await,
                Err(other) => return Err(other.into()),
            }
        }
        self.lost_race(app).await
    }

    async fn link_unchanged(&self, app: &App) -> Result<bool, AppError> {
        let current = load_any::<Link>(app.pool(), self.link.state.id).await?;
        Ok(current.is_some_and(|l| l.version == self.link.version))
    }

    async fn fail(
        self,
        app: &App,
        code: FailureCode,
        message: String,
        step: Option<String>,
    ) -> Result<(Link, CallbackOutcome), AppError> {
        tracing::info!(error_code = code.as_str(), %message, "onboarding attempt failed");
        let failed = self.decide(&LinkCommand::Fail {
            error_code: code,
            error: message.clone(),
            step,
        })?;
        match app.append(failed.append.clone()).await {
            Ok(()) => {}
            Err(StoreError::Conflict { .. }) => return self.lost_race(app).await,
            Err(other) => return Err(other.into()),
        }
        let id = self.link.state.id;
        let link = failed.loaded_after(self.link, id, &self.meta)?.state;
        Ok((link, CallbackOutcome::Failed { code, message }))
    }

    /// Something else changed the link while Meta was being asked (it expired, was deleted, or
    /// the attempt timed out and another completed it): report what the link is now.
    async fn lost_race(self, app: &App) -> Result<(Link, CallbackOutcome), AppError> {
        let link = load_any::<Link>(app.pool(), self.link.state.id)
            .await?
            .ok_or(AppError::NotFound("onboarding link"))?
            .state;
        let code = match link.usability(now()) {
            Usability::Refused(code) => code,
            _ => FailureCode::AlreadyUsed,
        };
        let message = refusal_message(code).to_owned();
        Ok((link, CallbackOutcome::Failed { code, message }))
    }
}
