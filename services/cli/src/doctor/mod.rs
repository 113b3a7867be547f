//! `gangway doctor`: checks a deployment's configuration before a customer meets a mistake in it,
//! and prints a checklist. Each item passed, failed (with how to fix it), or cannot be checked
//! from here (with a reminder of what to look at by hand). docs/going-live.md walks through the
//! settings it checks.

mod infra;
mod meta;
mod settings;

use crate::KeyArgs;
use crate::Outcome;
use clap::Args;
use gangway_config::runtime::connect_database;
use gangway_config::{Environment, InfraConfig, Secret};
use gangway_meta_graph::settings::MetaConfig;
use serde::Serialize;

/// The api's settings the doctor checks, read from the same environment variables (or flags)
/// with the same defaults as the api (a test holds them to the api's).
#[derive(Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub keys: KeyArgs,
    #[arg(long, env = "GANGWAY_PUBLIC_URL", default_value = "http://127.0.0.1:8080")]
    pub public_url: String,
    #[arg(long, env = "GANGWAY_ADMIN_TOKEN", hide_env_values = true, default_value = "")]
    pub admin_token: Secret,
    #[arg(long, env = "GANGWAY_WEBHOOK_ALLOW_HTTP", action = clap::ArgAction::Set)]
    pub webhook_allow_http: Option<bool>,
    #[arg(long, env = "GANGWAY_WEBHOOK_ALLOW_PRIVATE", default_value_t = false, action = clap::ArgAction::Set)]
    pub webhook_allow_private: bool,
    /// Publishing held back (or events unpublished) longer than this many seconds fails `relay`.
    #[arg(long, env = "GANGWAY_RELAY_STALL_WARN_SECONDS", default_value_t = 5)]
    pub relay_stall_warn_seconds: u64,
    #[command(flatten)]
    pub meta: MetaConfig,
    /// The projector's durable consumer, as the projector names it.
    #[arg(long, env = "GANGWAY_PROJECTOR_CONSUMER", default_value = "projector")]
    pub projector_consumer: String,
    /// The dispatcher's durable consumers, as the dispatcher names them.
    #[arg(long, env = "GANGWAY_DISPATCHER_CONSUMER", default_value = "dispatcher")]
    pub dispatcher_consumer: String,
    /// Print the checklist as one JSON object for scripts.
    #[arg(long)]
    pub json: bool,
}

impl DoctorArgs {
    fn environment(&self) -> Environment {
        self.keys.environment
    }

    fn public_url(&self) -> &str {
        self.public_url.trim_end_matches('/')
    }

    fn production_problems(&self) -> Vec<String> {
        gangway_config::production_problems(&gangway_config::ProductionSettings {
            admin_token: self.admin_token.expose(),
            encryption_keys: self.keys.encryption_keys.expose(),
            webhook_allow_http: self.webhook_allow_http,
            webhook_allow_private: self.webhook_allow_private,
            meta_app_id: &self.meta.app_id,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Passed,
    Failed,
    /// Cannot be checked from here (or depends on an item that failed).
    NotCheckable,
}

/// One line of the checklist.
#[derive(Debug, Serialize)]
pub struct Item {
    pub id: &'static str,
    pub verdict: Verdict,
    /// What was found.
    pub detail: String,
    /// How to fix a failure, or what to check by hand.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Item {
    fn passed(id: &'static str, detail: impl Into<String>) -> Self {
        Self {
            id,
            verdict: Verdict::Passed,
            detail: detail.into(),
            hint: None,
        }
    }

    fn failed(id: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            id,
            verdict: Verdict::Failed,
            detail: detail.into(),
            hint: Some(fix.into()),
        }
    }

    fn not_checkable(id: &'static str, detail: impl Into<String>, reminder: impl Into<String>) -> Self {
        Self {
            id,
            verdict: Verdict::NotCheckable,
            detail: detail.into(),
            hint: Some(reminder.into()),
        }
    }
}

#[derive(Serialize)]
struct Report<'a> {
    ok: bool,
    items: &'a [Item],
}

/// Every item that could be checked passed.
pub fn all_checkable_passed(items: &[Item]) -> bool {
    items.iter().all(|item| item.verdict != Verdict::Failed)
}

pub async fn run(infra: &InfraConfig, args: DoctorArgs) -> anyhow::Result<Outcome> {
    // Without migrating: the doctor changes nothing.
    let pool = connect_database(infra, 2).await.map_err(|e| format!("{e:#}"));
    let mut items = settings::check(&args, pool.as_ref().ok()).await;
    items.extend(meta::check(&args).await);
    items.extend(infra::check(infra, &args, pool.as_ref().map_err(String::as_str)).await);
    let ok = all_checkable_passed(&items);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&Report { ok, items: &items })?);
    } else {
        print_text(&items, ok);
    }
    Ok(if ok {
        Outcome::Done
    } else {
        Outcome::NeedsAttention
    })
}

fn print_text(items: &[Item], ok: bool) {
    let width = items.iter().map(|i| i.id.len()).max().unwrap_or(0);
    for item in items {
        let mark = match item.verdict {
            Verdict::Passed => "ok  ",
            Verdict::Failed => "FAIL",
            Verdict::NotCheckable => "??  ",
        };
        println!("{mark} {:<width$}  {}", item.id, item.detail);
        if let Some(hint) = &item.hint {
            let label = if item.verdict == Verdict::Failed {
                "fix"
            } else {
                "check"
            };
            println!("     {:<width$}  {label}: {hint}", "");
        }
    }
    println!();
    if ok {
        println!("every item that can be checked from here passed; check the ?? items by hand");
    } else {
        println!("some items failed: fix them and run `gangway doctor` again");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_failed_item_fails_the_checklist() {
        let passed = Item::passed("a", "fine");
        let unknown = Item::not_checkable("b", "cannot tell", "look in the dashboard");
        assert!(all_checkable_passed(&[passed, unknown]));
        let failed = Item::failed("c", "broken", "fix it");
        assert!(!all_checkable_passed(&[Item::passed("a", "fine"), failed]));
    }
}
