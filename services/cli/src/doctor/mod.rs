//! `gangway doctor`: checks a deployment's configuration before a customer meets a mistake in it,
//! and prints a checklist. Each item passed, failed (with how to fix it), or cannot be checked
//! from here (with a reminder of what to look at by hand). docs/going-live.md walks through the
//! settings it checks.

mod infra;
mod meta;
mod settings;

use crate::Outcome;
use clap::Args;
use gangway_api::config::ApiConfig;
use gangway_config::runtime::connect_database;
use serde::Serialize;

#[derive(Args)]
pub struct DoctorArgs {
    /// The api's settings, read from the same environment variables (or flags) as the api.
    #[command(flatten)]
    pub api: ApiConfig,
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

pub async fn run(args: DoctorArgs) -> anyhow::Result<Outcome> {
    let api = &args.api;
    // Without migrating: the doctor changes nothing.
    let pool = connect_database(&api.infra, 2)
        .await
        .map_err(|e| format!("{e:#}"));
    let mut items = settings::check(api, pool.as_ref().ok()).await;
    items.extend(meta::check(api).await);
    items.extend(infra::check(&args, pool.as_ref().map_err(String::as_str)).await);
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

    /// `(setting, default cell)` of the rows of the guide's settings table.
    fn guide_settings() -> Vec<(String, String)> {
        let guide = include_str!("../../../../docs/going-live.md");
        let table = guide
            .split("## The settings")
            .nth(1)
            .expect("the guide's settings table");
        table
            .lines()
            .filter(|line| line.starts_with("| `GANGWAY_"))
            .map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                (cells[1].trim_matches('`').to_owned(), cells[2].to_owned())
            })
            .collect()
    }

    #[test]
    fn the_going_live_guide_names_real_settings_with_their_defaults() {
        let api = ApiConfig::augment_args(clap::Command::new("api"));
        let rows = guide_settings();
        for (name, default) in &rows {
            let arg = api
                .get_arguments()
                .find(|a| a.get_env().is_some_and(|e| e == name.as_str()))
                .unwrap_or_else(|| panic!("the guide names {name}, which the api does not read"));
            let code_default: Vec<_> = arg
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy())
                .collect();
            let expected = match code_default.join(",") {
                empty if empty.is_empty() => "*(empty)*".to_owned(),
                value => format!("`{value}`"),
            };
            assert_eq!(default, &expected, "the guide's default for {name}");
        }
        for needed in [
            "GANGWAY_META_APP_ID",
            "GANGWAY_META_APP_SECRET",
            "GANGWAY_META_CONFIG_ID",
            "GANGWAY_META_WEBHOOK_VERIFY_TOKEN",
            "GANGWAY_PUBLIC_URL",
            "GANGWAY_ENVIRONMENT",
            "GANGWAY_ADMIN_TOKEN",
            "GANGWAY_ENCRYPTION_KEYS",
            "GANGWAY_ENCRYPTION_KEY_ID",
            "GANGWAY_METRICS_TOKEN",
        ] {
            assert!(
                rows.iter().any(|(name, _)| name == needed),
                "the guide's table lacks {needed}"
            );
        }
    }

    #[test]
    fn only_a_failed_item_fails_the_checklist() {
        let passed = Item::passed("a", "fine");
        let unknown = Item::not_checkable("b", "cannot tell", "look in the dashboard");
        assert!(all_checkable_passed(&[passed, unknown]));
        let failed = Item::failed("c", "broken", "fix it");
        assert!(!all_checkable_passed(&[Item::passed("a", "fine"), failed]));
    }
}
