//! Validated values. Each `parse` returns a message a person can act on; the caller names the field.

use crate::countries::ISO_COUNTRY_CODES;
use chrono::{DateTime, Duration, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

pub const MAX_URL_LEN: usize = 2048;
pub const MAX_METADATA_BYTES: usize = 16 * 1024;
/// Nesting of objects and arrays in metadata, the metadata object itself being level 1. Every
/// reader of an event (the relay, the consumers, the API) parses it with a nesting limit of its
/// own (128 levels, less the event's own), so deeper metadata could be stored but never read back.
pub const MAX_METADATA_DEPTH: usize = 32;
pub const DEFAULT_LINK_LIFETIME: Duration = Duration::days(7);
pub const MAX_LINK_LIFETIME: Duration = Duration::days(30);

/// An absolute `http` or `https` URL without credentials in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HttpUrl(String);

impl HttpUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.len() > MAX_URL_LEN {
            return Err(format!("must be at most {MAX_URL_LEN} characters"));
        }
        let url = url::Url::parse(raw).map_err(|e| format!("must be an absolute URL ({e})"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("must use http or https".into());
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("must have a host".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not contain credentials".into());
        }
        Ok(Self(url.into()))
    }

    pub fn is_https(&self) -> bool {
        self.0.starts_with("https://")
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A shared secret for signing outgoing webhooks. Its `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

impl WebhookSecret {
    pub const MIN_LEN: usize = 16;
    pub const MAX_LEN: usize = 256;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let len = raw.chars().count();
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&len) {
            return Err(format!(
                "must be between {} and {} characters (got {len})",
                Self::MIN_LEN,
                Self::MAX_LEN
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

/// An ISO 3166-1 alpha-2 country code, upper case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CountryCode(String);

impl CountryCode {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let upper = raw.trim().to_ascii_uppercase();
        if ISO_COUNTRY_CODES.binary_search(&upper.as_str()).is_ok() {
            Ok(Self(upper))
        } else {
            Err(format!("'{raw}' is not an ISO 3166-1 alpha-2 country code"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Language of the hosted page.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    En,
    Es,
    Pt,
}

impl Language {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "en" => Ok(Self::En),
            "es" => Ok(Self::Es),
            "pt" => Ok(Self::Pt),
            other => Err(format!("'{other}' is not supported; use en, es or pt")),
        }
    }
}

/// How a number is connected: Cloud API only, or shared with the WhatsApp Business app.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectionType {
    Dedicated,
    Coexistence,
}

impl ConnectionType {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "dedicated" => Ok(Self::Dedicated),
            "coexistence" => Ok(Self::Coexistence),
            other => Err(format!(
                "'{other}' is not a connection type; use dedicated or coexistence"
            )),
        }
    }
}

/// A CSS hex colour, `#rgb` or `#rrggbb`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HexColor(String);

impl HexColor {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        let digits = raw.strip_prefix('#').unwrap_or("");
        let valid = matches!(digits.len(), 3 | 6) && digits.chars().all(|c| c.is_ascii_hexdigit());
        if valid {
            Ok(Self(raw.to_ascii_lowercase()))
        } else {
            Err("must be a hex colour like #1a73e8".into())
        }
    }
}

/// Free text that must be non-blank and bounded; surrounding whitespace is trimmed.
pub fn bounded_text(raw: &str, max_chars: usize) -> Result<String, String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err("must not be blank".into());
    }
    if trimmed.chars().count() > max_chars {
        return Err(format!("must be at most {max_chars} characters"));
    }
    Ok(trimmed.to_owned())
}

/// Integrator-owned key/value data, stored as given. Must be a JSON object of bounded size.
pub fn metadata(value: serde_json::Value) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let serde_json::Value::Object(map) = value else {
        return Err("must be a JSON object".into());
    };
    let size = serde_json::to_vec(&map).map(|b| b.len()).unwrap_or(usize::MAX);
    if size > MAX_METADATA_BYTES {
        return Err(format!("must be at most {MAX_METADATA_BYTES} bytes of JSON"));
    }
    if nesting(&map) > MAX_METADATA_DEPTH {
        return Err(format!(
            "must nest objects and arrays at most {MAX_METADATA_DEPTH} levels deep"
        ));
    }
    Ok(map)
}

/// How deep objects and arrays nest in `map`, itself counting as 1.
fn nesting(map: &serde_json::Map<String, serde_json::Value>) -> usize {
    let mut deepest = 1;
    let mut open: Vec<(&serde_json::Value, usize)> = map.values().map(|v| (v, 2)).collect();
    while let Some((value, level)) = open.pop() {
        let children: Box<dyn Iterator<Item = &serde_json::Value>> = match value {
            serde_json::Value::Object(inner) => Box::new(inner.values()),
            serde_json::Value::Array(items) => Box::new(items.iter()),
            _ => continue,
        };
        deepest = deepest.max(level);
        open.extend(children.map(|child| (child, level + 1)));
    }
    deepest
}

/// When a link stops working: 7 days from now unless asked, never past 30 days, never in the past.
/// Kept to microseconds, the precision timestamps are stored with.
pub fn link_expiry(requested: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let Some(at) = requested.map(|at| at.trunc_subsecs(6)) else {
        return Ok(now + DEFAULT_LINK_LIFETIME);
    };
    if at <= now {
        return Err("must be in the future".into());
    }
    if at > now + MAX_LINK_LIFETIME {
        return Err("must be at most 30 days from now".into());
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_absolute_http_without_credentials() {
        assert!(HttpUrl::parse("https://example.com/done?x=1").is_ok());
        assert!(HttpUrl::parse("http://127.0.0.1:9000/cb").is_ok());
        assert!(HttpUrl::parse("/relative").is_err());
        assert!(HttpUrl::parse("ftp://example.com").is_err());
        assert!(HttpUrl::parse("javascript:alert(1)").is_err());
        assert!(HttpUrl::parse("https://user:pw@example.com").is_err());
        assert!(HttpUrl::parse(&format!("https://e.com/{}", "a".repeat(MAX_URL_LEN))).is_err());
    }

    #[test]
    fn webhook_secret_length_is_16_to_256_and_never_printed() {
        assert!(WebhookSecret::parse(&"s".repeat(15)).is_err());
        assert!(WebhookSecret::parse(&"s".repeat(16)).is_ok());
        assert!(WebhookSecret::parse(&"s".repeat(256)).is_ok());
        assert!(WebhookSecret::parse(&"s".repeat(257)).is_err());
        let secret = WebhookSecret::parse("super-secret-value-123").unwrap();
        assert!(!format!("{secret:?}").contains("super"));
    }

    #[test]
    fn country_codes_are_iso_alpha2() {
        assert_eq!(CountryCode::parse("br").unwrap().as_str(), "BR");
        assert!(CountryCode::parse("US").is_ok());
        assert!(CountryCode::parse("XX").is_err());
        assert!(CountryCode::parse("USA").is_err());
        assert!(
            ISO_COUNTRY_CODES.windows(2).all(|w| w[0] < w[1]),
            "list must stay sorted"
        );
    }

    #[test]
    fn languages_and_connection_types_are_closed_sets() {
        assert_eq!(Language::parse("pt"), Ok(Language::Pt));
        assert!(Language::parse("fr").is_err());
        assert_eq!(
            ConnectionType::parse("coexistence"),
            Ok(ConnectionType::Coexistence)
        );
        assert!(ConnectionType::parse("shared").is_err());
    }

    #[test]
    fn hex_colors() {
        assert!(HexColor::parse("#1A73E8").is_ok());
        assert!(HexColor::parse("#fff").is_ok());
        assert!(HexColor::parse("1a73e8").is_err());
        assert!(HexColor::parse("#12345g").is_err());
    }

    #[test]
    fn expiry_defaults_to_seven_days_and_caps_at_thirty() {
        let now = Utc::now();
        assert_eq!(link_expiry(None, now), Ok(now + Duration::days(7)));
        assert!(link_expiry(Some(now - Duration::seconds(1)), now).is_err());
        assert!(link_expiry(Some(now + Duration::days(30)), now).is_ok());
        assert!(link_expiry(Some(now + Duration::days(30) + Duration::seconds(1)), now).is_err());
    }

    #[test]
    fn metadata_must_be_a_bounded_object() {
        assert!(metadata(serde_json::json!({"plan": "pro"})).is_ok());
        assert!(metadata(serde_json::json!([1, 2])).is_err());
        let big = "x".repeat(MAX_METADATA_BYTES);
        assert!(metadata(serde_json::json!({ "big": big })).is_err());
    }

    #[test]
    fn metadata_nests_at_most_the_limit() {
        let nested = |levels: usize| {
            let mut value = serde_json::json!("bottom");
            for i in 0..levels - 1 {
                value = if i % 2 == 0 {
                    serde_json::json!([value])
                } else {
                    serde_json::json!({ "n": value })
                };
            }
            serde_json::json!({ "top": value })
        };
        assert!(metadata(nested(MAX_METADATA_DEPTH)).is_ok());
        let refused = metadata(nested(MAX_METADATA_DEPTH + 1)).unwrap_err();
        assert!(refused.contains("32 levels"), "{refused}");
        assert!(metadata(serde_json::json!({ "a": 1, "b": [1, { "c": [] }] })).is_ok());
    }

    #[test]
    fn bounded_text_trims_and_limits() {
        assert_eq!(bounded_text("  Acme ", 10), Ok("Acme".into()));
        assert!(bounded_text("   ", 10).is_err());
        assert!(bounded_text("abcdefghijk", 10).is_err());
    }
}
