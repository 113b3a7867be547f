//! Graph API answer shapes (reference §2). Unknown fields are ignored; absent ones are `None`.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct AccessToken {
    pub access_token: String,
    #[serde(default)]
    pub token_type: Option<String>,
    #[serde(default)]
    pub expires_in: Option<i64>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct GranularScope {
    pub scope: String,
    #[serde(default)]
    pub target_ids: Vec<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct TokenInfo {
    #[serde(default)]
    pub app_id: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub application: Option<String>,
    #[serde(default)]
    pub expires_at: i64,
    #[serde(default)]
    pub data_access_expires_at: i64,
    pub is_valid: bool,
    #[serde(default)]
    pub issued_at: Option<i64>,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub granular_scopes: Vec<GranularScope>,
    #[serde(default)]
    pub user_id: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct DebugToken {
    pub data: TokenInfo,
}

impl TokenInfo {
    /// The WABAs this token may manage (`whatsapp_business_management` targets).
    pub fn granted_wabas(&self) -> Vec<&str> {
        self.granular_scopes
            .iter()
            .filter(|s| s.scope == "whatsapp_business_management")
            .flat_map(|s| s.target_ids.iter().map(String::as_str))
            .collect()
    }

    /// Valid, issued to `app_id`, with both WhatsApp scopes.
    pub fn is_usable_by(&self, app_id: &str) -> bool {
        self.is_valid
            && self.app_id.as_deref() == Some(app_id)
            && ["whatsapp_business_management", "whatsapp_business_messaging"]
                .iter()
                .all(|needed| self.scopes.iter().any(|s| s == needed))
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct OwnerBusiness {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Waba {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub timezone_id: Option<String>,
    #[serde(default)]
    pub message_template_namespace: Option<String>,
    #[serde(default)]
    pub account_review_status: Option<String>,
    #[serde(default)]
    pub business_verification_status: Option<String>,
    #[serde(default)]
    pub owner_business_info: Option<OwnerBusiness>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct PhoneNumber {
    pub id: String,
    #[serde(default)]
    pub display_phone_number: Option<String>,
    #[serde(default)]
    pub verified_name: Option<String>,
    #[serde(default)]
    pub code_verification_status: Option<String>,
    #[serde(default)]
    pub quality_rating: Option<String>,
    #[serde(default)]
    pub platform_type: Option<String>,
    #[serde(default)]
    pub name_status: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub account_mode: Option<String>,
    #[serde(default)]
    pub is_on_biz_app: Option<bool>,
    #[serde(default)]
    pub messaging_limit_tier: Option<String>,
    #[serde(default)]
    pub health_status: Option<serde_json::Value>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct PhoneNumbers {
    pub data: Vec<PhoneNumber>,
    #[serde(default)]
    pub paging: Option<Paging>,
}

/// Graph's cursor paging: `next` is there only while more pages follow.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Paging {
    #[serde(default)]
    pub cursors: Option<Cursors>,
    #[serde(default)]
    pub next: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Cursors {
    #[serde(default)]
    pub after: Option<String>,
}

impl PhoneNumbers {
    /// The cursor of the page after this one, if there is one.
    pub fn next_cursor(&self) -> Option<&str> {
        let paging = self.paging.as_ref()?;
        paging.next.as_ref()?;
        paging.cursors.as_ref()?.after.as_deref()
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Success {
    pub success: bool,
}
