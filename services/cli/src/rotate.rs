//! `gangway rotate-key`: re-encrypt every vault secret (Meta tokens, registration PINs, webhook
//! endpoint and link webhook secrets: they all live in `vault_secrets`) under the active key, in
//! batches, while the system runs. Each row is replaced only if it still holds what was read, so a
//! concurrent writer is never overwritten. Running it again re-encrypts only what is left.

use crate::{progress, KeyArgs, Outcome};
use gangway_config::Environment;
use gangway_domain::SecretRef;
use gangway_vault::{KeyUsage, Keyring, Unreadable, Vault};
use sqlx::PgPool;

/// Passes over the table at most: a second one picks up rows a concurrent writer changed under
/// the first; more would only repeat the same failures.
const PASSES: usize = 3;

/// At most this many unreadable secrets are listed by id.
const LISTED: usize = 20;

pub fn vault(keys: &KeyArgs) -> anyhow::Result<Vault> {
    let keyring = Keyring::from_settings(
        keys.encryption_keys.expose(),
        &keys.encryption_key_id,
        keys.environment == Environment::Production,
    )
    .map_err(|e| {
        anyhow::anyhow!(
            "GANGWAY_ENCRYPTION_KEYS / GANGWAY_ENCRYPTION_KEY_ID (--encryption-keys / \
             --encryption-key-id): {e}"
        )
    })?;
    Ok(Vault::new(keyring))
}

fn under_old_keys(usage: &[KeyUsage], active: &str) -> i64 {
    usage
        .iter()
        .filter(|u| u.key_id != active)
        .map(|u| u.secrets)
        .sum()
}

pub async fn run(pool: &PgPool, vault: &Vault, batch_size: i64) -> anyhow::Result<Outcome> {
    let active = vault.active_key_id().to_owned();
    let before = Vault::key_usage(pool).await?;
    let bar = progress::bar(under_old_keys(&before, &active) as u64, "secrets");
    let (mut resealed, mut conflicts) = (0usize, 0usize);
    let mut unreadable: Vec<Unreadable> = Vec::new();
    for _ in 0..PASSES {
        let (mut pass_resealed, mut pass_conflicts) = (0usize, 0usize);
        unreadable.clear();
        let mut after: Option<SecretRef> = None;
        loop {
            let batch = vault.reseal_batch(pool, after, batch_size).await?;
            let Some(last) = batch.last else { break };
            after = Some(last);
            pass_resealed += batch.resealed;
            pass_conflicts += batch.conflicts;
            unreadable.extend(batch.unreadable);
            bar.set_position((resealed + pass_resealed) as u64);
        }
        resealed += pass_resealed;
        conflicts += pass_conflicts;
        if pass_conflicts == 0 {
            break;
        }
    }
    bar.finish_and_clear();

    let after = Vault::key_usage(pool).await?;
    let left = under_old_keys(&after, &active);
    println!("{resealed} secrets re-encrypted, {left} left under old key ids (active key id '{active}')");
    if conflicts > 0 {
        println!("{conflicts} secrets changed by another writer during the run were left to it");
    }
    if left == 0 {
        let old: Vec<&str> = before
            .iter()
            .map(|u| u.key_id.as_str())
            .filter(|k| *k != active)
            .collect();
        if !old.is_empty() {
            println!(
                "no secret is sealed under {} any more: remove it from GANGWAY_ENCRYPTION_KEYS once \
                 every process runs with '{active}' active",
                old.join(", ")
            );
        }
        return Ok(Outcome::Done);
    }
    for usage in after.iter().filter(|u| u.key_id != active) {
        println!("  key id '{}': {} secrets", usage.key_id, usage.secrets);
    }
    for secret in unreadable.iter().take(LISTED) {
        println!(
            "  secret {} (key id '{}') could not be re-encrypted: {}",
            secret.secret, secret.key_id, secret.reason
        );
    }
    if unreadable.len() > LISTED {
        println!("  ... and {} more", unreadable.len() - LISTED);
    }
    println!(
        "keep those keys configured; add any missing one to GANGWAY_ENCRYPTION_KEYS and run \
         rotate-key again (secrets sealed by a process still using an old active key also show \
         here: restart it with the new GANGWAY_ENCRYPTION_KEY_ID first)"
    );
    Ok(Outcome::NeedsAttention)
}
