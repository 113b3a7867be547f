//! Gangway's own settings: the environment, what production refuses, the encryption keys and the
//! public URL.

use super::{DoctorArgs, Item};
use gangway_config::Environment;
use gangway_vault::{Keyring, Vault};
use sqlx::PgPool;

pub async fn check(api: &DoctorArgs, pool: Option<&PgPool>) -> Vec<Item> {
    vec![
        environment(api),
        production_settings(api),
        encryption_keys(api, pool).await,
        public_url(api),
    ]
}

fn environment(api: &DoctorArgs) -> Item {
    match api.environment() {
        Environment::Production => Item::passed("environment", "GANGWAY_ENVIRONMENT is production"),
        Environment::Development => Item::failed(
            "environment",
            "GANGWAY_ENVIRONMENT is development: it allows the meta sandbox, the development admin \
             token and key, and http webhook URLs",
            "set GANGWAY_ENVIRONMENT=production (the default)",
        ),
    }
}

fn production_settings(api: &DoctorArgs) -> Item {
    let problems = api.production_problems();
    if problems.is_empty() {
        return Item::passed(
            "production-settings",
            "admin token, encryption keys and Meta app set; no development switches",
        );
    }
    Item::failed(
        "production-settings",
        format!("production refuses {} setting(s)", problems.len()),
        problems.join("; "),
    )
}

async fn encryption_keys(api: &DoctorArgs, pool: Option<&PgPool>) -> Item {
    const ID: &str = "encryption-keys";
    let keyring = Keyring::from_settings(
        api.keys.encryption_keys.expose(),
        &api.keys.encryption_key_id,
        api.environment() == Environment::Production,
    );
    let vault = match keyring {
        Ok(keyring) => Vault::new(keyring),
        Err(error) => {
            return Item::failed(
                ID,
                error.to_string(),
                "set GANGWAY_ENCRYPTION_KEYS=id:base64(32 random bytes)[,id:key…] and \
                 GANGWAY_ENCRYPTION_KEY_ID to one of its ids (e.g. `openssl rand -base64 32`)",
            )
        }
    };
    if let Err(error) = vault.round_trip() {
        return Item::failed(
            ID,
            format!("a test value did not round-trip: {error}"),
            "check GANGWAY_ENCRYPTION_KEYS",
        );
    }
    let Some(pool) = pool else {
        return Item::not_checkable(
            ID,
            format!(
                "active key '{}' seals and opens a test value",
                vault.active_key_id()
            ),
            "Postgres is unreachable, so the stored secrets could not be opened (see postgres)",
        );
    };
    let checks = match vault.check_stored_keys(pool).await {
        Ok(checks) => checks,
        Err(error) => {
            return Item::not_checkable(
                ID,
                format!("reading stored secrets failed: {error}"),
                "see postgres",
            )
        }
    };
    let unreadable: Vec<String> = checks
        .iter()
        .filter_map(|c| {
            c.problem
                .as_ref()
                .map(|p| format!("{} secret(s) under '{}': {p}", c.secrets, c.key_id))
        })
        .collect();
    if !unreadable.is_empty() {
        return Item::failed(
            ID,
            unreadable.join("; "),
            "GANGWAY_ENCRYPTION_KEYS must hold every key id stored secrets are sealed under, with the \
             same key material as when they were sealed; `gangway rotate-key` moves secrets to the \
             active key",
        );
    }
    let stored: i64 = checks.iter().map(|c| c.secrets).sum();
    Item::passed(
        ID,
        format!(
            "active key '{}' seals and opens a test value; one stored secret of each of {} key id(s) \
             opens ({stored} secrets)",
            vault.active_key_id(),
            checks.len()
        ),
    )
}

fn public_url(api: &DoctorArgs) -> Item {
    const ID: &str = "public-url";
    let fix = "serve Gangway behind TLS at a host Meta and browsers reach, and set \
               GANGWAY_PUBLIC_URL=https://<that host>";
    let url = match url::Url::parse(api.public_url()) {
        Ok(url) => url,
        Err(error) => return Item::failed(ID, format!("GANGWAY_PUBLIC_URL is not a URL: {error}"), fix),
    };
    if url.scheme() != "https" {
        return Item::failed(
            ID,
            format!(
                "GANGWAY_PUBLIC_URL is {url}: Meta's JS SDK, its OAuth redirects and its webhooks need https"
            ),
            fix,
        );
    }
    let local = match url.host() {
        Some(url::Host::Domain(name)) => name == "localhost" || name.ends_with(".localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback() || ip.is_private() || ip.is_link_local(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => true,
    };
    if local {
        return Item::failed(
            ID,
            format!("GANGWAY_PUBLIC_URL is {url}: Meta cannot reach that host"),
            fix,
        );
    }
    Item::passed(ID, format!("GANGWAY_PUBLIC_URL is {url}"))
}
