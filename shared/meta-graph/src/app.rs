//! Calls about our own Meta app rather than a customer's assets: its app access token and its
//! webhook subscriptions (`/{app-id}/subscriptions`). `gangway doctor` uses them to check a
//! deployment's Meta configuration.

use crate::model::AccessToken;
use crate::{send, GraphClient, GraphError, Token};
use serde::{Deserialize, Serialize};

/// The object WhatsApp Business Account webhooks are subscribed on.
pub const WHATSAPP_OBJECT: &str = "whatsapp_business_account";
/// Its fields Gangway acts on (`/meta/webhooks`).
pub const REQUIRED_WHATSAPP_FIELDS: [&str; 4] = [
    "account_update",
    "messages",
    "phone_number_name_update",
    "phone_number_quality_update",
];

/// One object the app receives webhooks for, as `GET /{app-id}/subscriptions` lists it.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct AppSubscription {
    pub object: String,
    pub callback_url: String,
    #[serde(default)]
    pub active: bool,
    #[serde(default)]
    pub fields: Vec<SubscribedField>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct SubscribedField {
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
}

#[derive(Deserialize)]
struct Subscriptions {
    data: Vec<AppSubscription>,
}

impl GraphClient {
    /// An app access token (`grant_type=client_credentials`): proves the app id and secret work.
    #[tracing::instrument(skip_all)]
    pub async fn app_access_token(&self) -> Result<Token, GraphError> {
        let token: AccessToken = send(self.http.get(self.url("oauth/access_token")).query(&[
            ("client_id", self.config.app_id.as_str()),
            ("client_secret", self.config.app_secret.as_str()),
            ("grant_type", "client_credentials"),
        ]))
        .await?;
        Ok(Token(token.access_token))
    }

    /// The objects and fields the app receives webhooks for, and where they are sent.
    #[tracing::instrument(skip_all)]
    pub async fn app_subscriptions(&self, app_token: &Token) -> Result<Vec<AppSubscription>, GraphError> {
        let path = format!("{}/subscriptions", self.config.app_id);
        let subscriptions: Subscriptions = send(
            self.http
                .get(self.url(&path))
                .query(&[("access_token", app_token.0.as_str())]),
        )
        .await?;
        Ok(subscriptions.data)
    }
}
