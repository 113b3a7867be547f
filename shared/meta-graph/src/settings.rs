//! Where Meta is for this deployment: the app, its Embedded Signup configuration, and the
//! Graph API, JS SDK and dialog addresses. With no app id configured, everything points at the
//! meta sandbox, so the whole flow runs on one machine. The api reads these settings, and
//! `gangway doctor` checks them.

use crate::GraphConfig;
use clap::Args;
use gangway_config::{Environment, Secret};
use std::time::Duration;

/// Meta's side of Embedded Signup.
#[derive(Args, Clone, Debug)]
pub struct MetaConfig {
    /// The Meta app id. Empty: use the meta sandbox at GANGWAY_META_SANDBOX_URL.
    #[arg(long = "meta-app-id", env = "GANGWAY_META_APP_ID", default_value = "")]
    pub app_id: String,
    #[arg(
        long = "meta-app-secret",
        env = "GANGWAY_META_APP_SECRET",
        hide_env_values = true,
        default_value = ""
    )]
    pub app_secret: Secret,
    /// What Meta must send as `hub.verify_token` when it verifies `/meta/webhooks` (the value
    /// set in the app's webhook settings). Empty with the sandbox: `sandbox-verify-token`.
    #[arg(
        long = "meta-webhook-verify-token",
        env = "GANGWAY_META_WEBHOOK_VERIFY_TOKEN",
        hide_env_values = true,
        default_value = ""
    )]
    pub webhook_verify_token: Secret,
    /// The Embedded Signup configuration id (Facebook Login for Business).
    #[arg(long = "meta-config-id", env = "GANGWAY_META_CONFIG_ID", default_value = "")]
    pub config_id: String,
    #[arg(
        long = "meta-api-version",
        env = "GANGWAY_META_API_VERSION",
        default_value = "v25.0"
    )]
    pub api_version: String,
    /// The meta sandbox, used when no app id is configured.
    #[arg(
        long = "meta-sandbox-url",
        env = "GANGWAY_META_SANDBOX_URL",
        default_value = "http://127.0.0.1:8090"
    )]
    pub sandbox_url: String,
    /// Graph API base URL (default: Meta's, or the sandbox).
    #[arg(long = "meta-graph-url", env = "GANGWAY_META_GRAPH_URL")]
    pub graph_url: Option<String>,
    /// The Facebook JS SDK the hosted page loads (default: Meta's, or the sandbox's).
    #[arg(long = "meta-sdk-url", env = "GANGWAY_META_SDK_URL")]
    pub sdk_url: Option<String>,
    /// Where the full-page signup dialog lives (default: https://www.facebook.com, or the sandbox).
    #[arg(long = "meta-dialog-url", env = "GANGWAY_META_DIALOG_URL")]
    pub dialog_url: Option<String>,
    /// Comma-separated origins whose `WA_EMBEDDED_SIGNUP` messages the hosted page accepts, matched
    /// exactly (default: www. and web.facebook.com, or the sandbox's origin).
    #[arg(
        long = "meta-message-origins",
        env = "GANGWAY_META_MESSAGE_ORIGINS",
        value_delimiter = ','
    )]
    pub message_origins: Option<Vec<String>>,
    /// Per-request timeout for Graph API calls, in seconds.
    #[arg(
        long = "meta-timeout-seconds",
        env = "GANGWAY_META_TIMEOUT_SECONDS",
        default_value_t = 10
    )]
    pub timeout_seconds: u64,
    /// How long rate-limited or transient Graph calls are retried, in seconds.
    #[arg(
        long = "meta-max-retry-seconds",
        env = "GANGWAY_META_MAX_RETRY_SECONDS",
        default_value_t = 20
    )]
    pub max_retry_seconds: u64,
}

/// The meta sandbox's app credentials (services/meta-sandbox has the same defaults).
const SANDBOX_APP_ID: &str = "1234567890";
const SANDBOX_APP_SECRET: &str = "sandbox-app-secret";
const SANDBOX_CONFIG_ID: &str = "sandbox-config";
const SANDBOX_VERIFY_TOKEN: &str = "sandbox-verify-token";

/// Where Meta is, resolved from [`MetaConfig`].
#[derive(Clone, Debug)]
pub struct MetaEndpoints {
    pub graph: GraphConfig,
    pub config_id: String,
    pub sdk_url: String,
    pub dialog_url: String,
    pub message_origins: Vec<String>,
    /// `None`: Meta's verification requests are refused (no verify token configured).
    pub webhook_verify_token: Option<Secret>,
    pub sandbox: bool,
}

impl MetaConfig {
    pub fn resolve(&self, environment: Environment) -> anyhow::Result<MetaEndpoints> {
        let sandbox = self.app_id.is_empty();
        if sandbox && environment == Environment::Production {
            anyhow::bail!("set GANGWAY_META_APP_ID, GANGWAY_META_APP_SECRET and GANGWAY_META_CONFIG_ID: the meta sandbox is refused in production");
        }
        let sandbox_url = self.sandbox_url.trim_end_matches('/').to_owned();
        let pick = |configured: &Option<String>, meta: &str, local: String| {
            configured
                .clone()
                .unwrap_or_else(|| if sandbox { local } else { meta.to_owned() })
                .trim_end_matches('/')
                .to_owned()
        };
        let (app_id, app_secret, config_id) = if sandbox {
            (
                SANDBOX_APP_ID.into(),
                SANDBOX_APP_SECRET.into(),
                SANDBOX_CONFIG_ID.into(),
            )
        } else {
            if self.app_secret.expose().is_empty() || self.config_id.is_empty() {
                anyhow::bail!("GANGWAY_META_APP_ID is set: GANGWAY_META_APP_SECRET and GANGWAY_META_CONFIG_ID are required too");
            }
            (
                self.app_id.clone(),
                self.app_secret.expose().to_owned(),
                self.config_id.clone(),
            )
        };
        let message_origins = match &self.message_origins {
            Some(origins) => origins
                .iter()
                .map(|o| o.trim().trim_end_matches('/').to_owned())
                .collect(),
            None if sandbox => vec![origin_of(&sandbox_url)?],
            None => vec![
                "https://www.facebook.com".into(),
                "https://web.facebook.com".into(),
            ],
        };
        Ok(MetaEndpoints {
            graph: GraphConfig {
                base_url: pick(&self.graph_url, "https://graph.facebook.com", sandbox_url.clone()),
                api_version: self.api_version.clone(),
                app_id,
                app_secret,
                timeout: Duration::from_secs(self.timeout_seconds.max(1)),
                max_retry: Duration::from_secs(self.max_retry_seconds),
            },
            config_id,
            sdk_url: pick(
                &self.sdk_url,
                "https://connect.facebook.net/en_US/sdk.js",
                format!("{sandbox_url}/en_US/sdk.js"),
            ),
            dialog_url: pick(&self.dialog_url, "https://www.facebook.com", sandbox_url.clone()),
            message_origins,
            webhook_verify_token: match self.webhook_verify_token.expose() {
                "" if sandbox => Some(Secret::new(SANDBOX_VERIFY_TOKEN)),
                "" => None,
                _ => Some(self.webhook_verify_token.clone()),
            },
            sandbox,
        })
    }
}

/// `scheme://host[:port]` of a URL, as a browser reports `event.origin`.
fn origin_of(url: &str) -> anyhow::Result<String> {
    let parsed = url::Url::parse(url).map_err(|e| anyhow::anyhow!("{url} is not a URL: {e}"))?;
    Ok(parsed.origin().ascii_serialization())
}
