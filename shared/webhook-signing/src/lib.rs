//! Outgoing webhooks, signed the [Standard Webhooks](https://www.standardwebhooks.com) way, the
//! signature on redirects back to an integrator, and the check that a webhook URL points somewhere
//! it is safe for us to connect to.
//!
//! Signing: [`SigningKey::from_secret`], [`sign`], [`verify`], [`generate_secret`].
//! Redirects: [`sign_redirect`], [`generate_redirect_secret`].
//! Targets: [`Policy`], [`check_url`], [`check_target`], [`pinned_client`].

mod address;
mod key;
mod redirect;
mod signature;
mod target;

pub use address::{classify, AddressClass};
pub use key::{generate_secret, KeyError, SigningKey, SECRET_PREFIX};
pub use redirect::{generate_redirect_secret, sign_redirect, REDIRECT_SECRET_PREFIX, SIGNATURE_PARAM};
pub use signature::{
    sign, verify, verify_at, SignError, VerifyError, WebhookHeaders, DEFAULT_TOLERANCE, HEADER_ID,
    HEADER_SIGNATURE, HEADER_TIMESTAMP,
};
pub use target::{check_target, check_url, pinned_client, Policy, TargetError};
