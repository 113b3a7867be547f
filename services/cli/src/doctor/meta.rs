//! The Meta app: its credentials, its webhook subscription, our callback's answer to Meta's
//! verification, and the reminders for what Graph does not show (the Embedded Signup
//! configuration, the JS SDK's allowed domains).

use super::{DoctorArgs, Item};
use gangway_meta_graph::app::{REQUIRED_WHATSAPP_FIELDS as REQUIRED_FIELDS, WHATSAPP_OBJECT};
use gangway_meta_graph::settings::MetaEndpoints;
use gangway_meta_graph::{GraphClient, GraphError, Token};
use std::time::Duration;

const APP: &str = "meta-app";
const SUBSCRIPTION: &str = "meta-webhook-subscription";
const VERIFICATION: &str = "meta-webhook-verification";

pub async fn check(api: &DoctorArgs) -> Vec<Item> {
    let meta = match api.meta.resolve(api.environment()) {
        Ok(meta) => meta,
        Err(error) => {
            let fix = "create the Meta app (docs/going-live.md) and set GANGWAY_META_APP_ID, \
                       GANGWAY_META_APP_SECRET and GANGWAY_META_CONFIG_ID";
            return vec![
                Item::failed(APP, error.to_string(), fix),
                Item::not_checkable(SUBSCRIPTION, "needs the Meta app", "fix meta-app first"),
                verification(api, None).await,
            ];
        }
    };
    let graph = GraphClient::new(meta.graph.clone());
    let (app, token) = match &graph {
        Ok(graph) => app_credentials(graph, &meta).await,
        Err(error) => (
            Item::failed(APP, error.to_string(), "check GANGWAY_META_GRAPH_URL"),
            None,
        ),
    };
    let subscription = match (&graph, token) {
        (Ok(graph), Some(token)) => subscription(api, graph, &token).await,
        _ => Item::not_checkable(SUBSCRIPTION, "needs an app access token", "fix meta-app first"),
    };
    vec![
        app,
        subscription,
        verification(api, meta.webhook_verify_token.as_ref().map(|t| t.expose())).await,
        Item::not_checkable(
            "embedded-signup-config",
            format!("GANGWAY_META_CONFIG_ID is {}", meta.config_id),
            "it must be the id of a Facebook Login for Business configuration of this app made \
             from the WhatsApp Embedded Signup template; only a real signup shows a wrong one",
        ),
        Item::not_checkable(
            "sdk-domains",
            "the JavaScript SDK's allowed domains cannot be read through the Graph API",
            format!(
                "in Facebook Login for Business > Settings, turn on Login with the JavaScript SDK and \
                 add {} to Allowed Domains and Valid OAuth Redirect URIs",
                api.public_url()
            ),
        ),
    ]
}

fn where_meta_is(meta: &MetaEndpoints) -> String {
    if meta.sandbox {
        format!("the meta sandbox at {}", meta.graph.base_url)
    } else {
        meta.graph.base_url.clone()
    }
}

/// An app access token from the app id and secret, and `debug_token` on it.
async fn app_credentials(graph: &GraphClient, meta: &MetaEndpoints) -> (Item, Option<Token>) {
    let token = match graph.app_access_token().await {
        Ok(token) => token,
        Err(error) => {
            return (
                Item::failed(
                    APP,
                    format!("Meta refused an app access token: {error}"),
                    credentials_fix(&error),
                ),
                None,
            )
        }
    };
    match graph.debug_token(&token).await {
        Ok(debug)
            if debug.data.is_valid && debug.data.app_id.as_deref() == Some(meta.graph.app_id.as_str()) =>
        {
            let name = debug.data.application.unwrap_or_default();
            let detail = format!(
                "app {} ({name}) issues app access tokens at {}",
                meta.graph.app_id,
                where_meta_is(meta)
            );
            (Item::passed(APP, detail), Some(token))
        }
        Ok(debug) => (
            Item::failed(
                APP,
                format!(
                    "debug_token says the app token is not valid for app {} (valid: {}, app: {:?})",
                    meta.graph.app_id, debug.data.is_valid, debug.data.app_id
                ),
                "check GANGWAY_META_APP_ID and GANGWAY_META_APP_SECRET (App settings > Basic)",
            ),
            None,
        ),
        Err(error) => (
            Item::failed(
                APP,
                format!("debug_token failed: {error}"),
                credentials_fix(&error),
            ),
            None,
        ),
    }
}

fn credentials_fix(error: &GraphError) -> String {
    match error.code() {
        Some(101) => {
            "GANGWAY_META_APP_ID must be the App ID shown in the App Dashboard (App settings > Basic)".into()
        }
        Some(1) | Some(190) => {
            "GANGWAY_META_APP_SECRET must be the app's current App secret (App settings > Basic); \
                       resetting it there makes the old one stop working"
                .into()
        }
        Some(_) => "check GANGWAY_META_APP_ID and GANGWAY_META_APP_SECRET (App settings > Basic)".into(),
        None => "check that this machine reaches the Graph API (GANGWAY_META_GRAPH_URL)".into(),
    }
}

/// The app's `whatsapp_business_account` subscription: active, at our callback, with every field.
async fn subscription(api: &DoctorArgs, graph: &GraphClient, token: &Token) -> Item {
    let callback = format!("{}/meta/webhooks", api.public_url());
    let fix = format!(
        "in the App Dashboard, WhatsApp > Configuration > Webhook: set the callback URL to {callback} \
         with GANGWAY_META_WEBHOOK_VERIFY_TOKEN as the verify token, and subscribe to the fields {}",
        REQUIRED_FIELDS.join(", ")
    );
    let subscriptions = match graph.app_subscriptions(token).await {
        Ok(subscriptions) => subscriptions,
        Err(error) => {
            return Item::failed(
                SUBSCRIPTION,
                format!("reading the app's subscriptions failed: {error}"),
                fix,
            )
        }
    };
    let Some(whatsapp) = subscriptions.iter().find(|s| s.object == WHATSAPP_OBJECT) else {
        return Item::failed(
            SUBSCRIPTION,
            format!("the app has no {WHATSAPP_OBJECT} webhook subscription"),
            fix,
        );
    };
    let mut problems = Vec::new();
    if !whatsapp.active {
        problems.push("the subscription is not active".to_owned());
    }
    if whatsapp.callback_url.trim_end_matches('/') != callback {
        problems.push(format!(
            "its callback URL is {}, not {callback}",
            whatsapp.callback_url
        ));
    }
    let missing: Vec<&str> = REQUIRED_FIELDS
        .into_iter()
        .filter(|needed| !whatsapp.fields.iter().any(|f| f.name == *needed))
        .collect();
    if !missing.is_empty() {
        problems.push(format!("fields not subscribed: {}", missing.join(", ")));
    }
    if problems.is_empty() {
        Item::passed(
            SUBSCRIPTION,
            format!(
                "{WHATSAPP_OBJECT} webhooks go to {callback} with {}",
                REQUIRED_FIELDS.join(", ")
            ),
        )
    } else {
        Item::failed(SUBSCRIPTION, problems.join("; "), fix)
    }
}

/// Meta's verification request, as Meta sends it, to our public callback URL.
async fn verification(api: &DoctorArgs, verify_token: Option<&str>) -> Item {
    let callback = format!("{}/meta/webhooks", api.public_url());
    let Some(verify_token) = verify_token else {
        return Item::failed(
            VERIFICATION,
            "GANGWAY_META_WEBHOOK_VERIFY_TOKEN is not set: Gangway refuses Meta's verification",
            "set GANGWAY_META_WEBHOOK_VERIFY_TOKEN to a random string and enter the same as the \
             verify token in WhatsApp > Configuration > Webhook",
        );
    };
    let fix = format!(
        "the api must answer at {callback} (GANGWAY_PUBLIC_URL, reachable from the internet) with \
         GANGWAY_META_WEBHOOK_VERIFY_TOKEN set as in its running environment"
    );
    let challenge = format!("doctor-{}", uuid::Uuid::new_v4().simple());
    let answer = reqwest::Client::new()
        .get(&callback)
        .query(&[
            ("hub.mode", "subscribe"),
            ("hub.verify_token", verify_token),
            ("hub.challenge", challenge.as_str()),
        ])
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    let answer = match answer {
        Ok(answer) => answer,
        Err(error) => {
            return Item::failed(
                VERIFICATION,
                format!("{callback} did not answer: {}", error.without_url()),
                fix,
            )
        }
    };
    let status = answer.status().as_u16();
    let body = answer.text().await.unwrap_or_default();
    if status == 200 && body == challenge {
        return Item::passed(
            VERIFICATION,
            format!("{callback} answers Meta's challenge with the verify token"),
        );
    }
    let detail = if status == 403 {
        format!("{callback} refused the verify token (403): the running api has another one")
    } else {
        format!("{callback} answered {status} without the challenge")
    };
    Item::failed(VERIFICATION, detail, fix)
}
