//! The signup `state`: binds a callback to its link, to the browser that opened the page (a nonce
//! also kept in that browser's cookie) and to a time limit.
//!
//! `state` = `{nonce}.{expires}.{signature}`, the signature covering the link id, the nonce and
//! the expiry (unix seconds) under the vault's signing key.

use crate::AppError;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use gangway_domain::LinkId;
use gangway_vault::Vault;
use rand::RngCore;

/// The purpose the signup `state` is signed for.
const STATE_PURPOSE: &str = "signup-state";

/// How long a rendered page's `state` is accepted: Embedded Signup takes minutes, not hours.
pub const SESSION_LIFETIME: Duration = Duration::hours(1);

const NOT_THIS_LINK: &str = "does not belong to this link; start again from the link's page";

/// A signup session: the nonce for the browser's cookie and the `state` for the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignupSession {
    pub nonce: String,
    pub state: String,
}

/// A session for the page being shown. The browser's nonce is kept when it sent a well-formed
/// one, so two tabs of the same browser share it and either may finish.
pub fn new_session(
    vault: &Vault,
    link: LinkId,
    browser_nonce: Option<&str>,
    now: DateTime<Utc>,
) -> SignupSession {
    let nonce = browser_nonce
        .filter(|nonce| well_formed(nonce))
        .map(str::to_owned)
        .unwrap_or_else(fresh_nonce);
    let expires = (now + SESSION_LIFETIME).timestamp();
    let signature = vault.sign(STATE_PURPOSE, &signed(link, &nonce, expires));
    SignupSession {
        state: format!("{nonce}.{expires}.{signature}"),
        nonce,
    }
}

/// Checks a callback's `state` against its link, the nonce in the browser's cookie and the time.
pub fn check_state(
    vault: &Vault,
    link: LinkId,
    state: &str,
    browser_nonce: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let refused = |why: &str| {
        tracing::info!(%link, why, "a signup callback's state was refused");
        Err(AppError::validation("state", why))
    };
    let mut parts = state.splitn(3, '.');
    let (Some(nonce), Some(expires), Some(signature)) = (parts.next(), parts.next(), parts.next()) else {
        return refused(NOT_THIS_LINK);
    };
    let Ok(expires) = expires.parse::<i64>() else {
        return refused(NOT_THIS_LINK);
    };
    if !vault.verify(STATE_PURPOSE, &signed(link, nonce, expires), signature) {
        return refused(NOT_THIS_LINK);
    }
    if now.timestamp() >= expires {
        return refused("has expired; start again from the link's page");
    }
    if browser_nonce != Some(nonce) {
        return refused("was issued to another browser; start again from the link's page");
    }
    Ok(())
}

fn signed(link: LinkId, nonce: &str, expires: i64) -> Vec<u8> {
    format!("{link}|{nonce}|{expires}").into_bytes()
}

fn fresh_nonce() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What [`fresh_nonce`] makes: 22 characters of URL-safe base64.
fn well_formed(nonce: &str) -> bool {
    nonce.len() == 22
        && nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use gangway_vault::Keyring;

    fn field_message(result: Result<(), AppError>) -> String {
        match result {
            Err(AppError::Validation(error)) => {
                assert_eq!(error.field, "state");
                error.message
            }
            other => panic!("expected a refused state, got {other:?}"),
        }
    }

    #[test]
    fn a_state_works_for_its_link_its_browser_and_its_hour_only() {
        let vault = Vault::new(Keyring::development());
        let (link, now) = (LinkId::new(), Utc::now());
        let session = new_session(&vault, link, None, now);
        let nonce = Some(session.nonce.as_str());
        assert!(check_state(&vault, link, &session.state, nonce, now).is_ok());
        let later = now + SESSION_LIFETIME - Duration::seconds(1);
        assert!(check_state(&vault, link, &session.state, nonce, later).is_ok());

        let other_link = field_message(check_state(&vault, LinkId::new(), &session.state, nonce, now));
        assert!(other_link.contains("does not belong"), "{other_link}");
        let expired = field_message(check_state(
            &vault,
            link,
            &session.state,
            nonce,
            now + SESSION_LIFETIME,
        ));
        assert!(expired.contains("expired"), "{expired}");
        let no_cookie = field_message(check_state(&vault, link, &session.state, None, now));
        assert!(no_cookie.contains("another browser"), "{no_cookie}");
        let other_browser = new_session(&vault, link, None, now).nonce;
        let stolen = check_state(&vault, link, &session.state, Some(&other_browser), now);
        assert!(field_message(stolen).contains("another browser"));
        // A longer life written into the state breaks its signature.
        let (rest, signature) = session.state.rsplit_once('.').unwrap();
        let (nonce_part, _) = rest.split_once('.').unwrap();
        let forged = format!(
            "{nonce_part}.{}.{signature}",
            (now + Duration::days(30)).timestamp()
        );
        assert!(field_message(check_state(&vault, link, &forged, nonce, now)).contains("does not belong"));
        for garbage in ["", "a.b", "x.y.z", "..."] {
            assert!(
                check_state(&vault, link, garbage, nonce, now).is_err(),
                "{garbage:?}"
            );
        }
    }

    #[test]
    fn a_second_tab_keeps_the_browsers_nonce() {
        let vault = Vault::new(Keyring::development());
        let (link, now) = (LinkId::new(), Utc::now());
        let first = new_session(&vault, link, None, now);
        let second = new_session(&vault, link, Some(&first.nonce), now);
        assert_eq!(first.nonce, second.nonce);
        assert!(check_state(&vault, link, &first.state, Some(&second.nonce), now).is_ok());
        let replaced = new_session(&vault, link, Some("not a nonce of ours"), now);
        assert_ne!(replaced.nonce, "not a nonce of ours");
    }

    #[test]
    fn nonces_are_fresh_and_well_formed() {
        let (a, b) = (fresh_nonce(), fresh_nonce());
        assert_ne!(a, b);
        assert!(well_formed(&a), "{a}");
        assert!(!well_formed("short"));
        assert!(!well_formed("AAAAAAAAAAAAAAAAAAAA.;"));
    }
}
