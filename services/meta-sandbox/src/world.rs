//! The sandbox's Meta: businesses, WABAs and phone numbers, and what has been granted, issued and
//! registered. Kept in memory; a restart starts a fresh world.

use crate::countries::calling_code;
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

#[derive(Clone, Debug, Serialize)]
pub struct Phone {
    pub id: String,
    pub display_phone_number: String,
    pub verified_name: String,
    pub waba_id: String,
    /// On the WhatsApp Business app: onboarded through coexistence, never registered.
    pub is_on_biz_app: bool,
    /// Whether the person typed the right verification code; register needs it (133006).
    pub verified: bool,
    /// Registered by someone else, whose two-step PIN is set (register with another: 133005).
    pub registered_elsewhere: bool,
    #[serde(skip)]
    pub pin: Option<String>,
    #[serde(skip)]
    pub registrations: Vec<Instant>,
    /// The `smb_app_data` sync types already requested (each works once).
    #[serde(skip)]
    pub synced: Vec<String>,
    /// Meta's verdict in `health_status`: AVAILABLE, LIMITED or BLOCKED.
    pub can_send_message: String,
    /// GREEN, YELLOW, RED or UNKNOWN.
    pub quality_rating: String,
}

/// A change to a number's state (`POST /sandbox/phones/{id}/state`); absent fields stay.
#[derive(Debug, Default, serde::Deserialize)]
pub struct PhoneStateChange {
    pub verified: Option<bool>,
    pub registered_elsewhere: Option<bool>,
    pub can_send_message: Option<String>,
    pub quality_rating: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Waba {
    pub id: String,
    pub name: String,
    pub business_id: String,
    pub business_name: String,
    pub subscribed_apps: Vec<String>,
}

/// What a person chose in the signup popup: the assets the code (and its token) grant.
#[derive(Clone, Debug)]
pub struct Grant {
    pub waba_id: String,
}

#[derive(Debug)]
pub struct Code {
    pub grant: Grant,
    pub issued: Instant,
    pub used: bool,
    pub expired: bool,
    /// Set for codes from the full-page dialog: the exchange must repeat it exactly.
    pub redirect_uri: Option<String>,
    /// Whether the token this code is exchanged for works.
    pub token_valid: bool,
}

#[derive(Debug)]
pub struct IssuedToken {
    pub grant: Grant,
    pub valid: bool,
    pub issued_at: i64,
}

/// A failure to answer instead of the real thing, for the next `times` calls matching `path`.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct Fault {
    /// Part of the request path, e.g. `register`, `debug_token`, `oauth/access_token`.
    pub path_contains: String,
    #[serde(default = "bad_request")]
    pub status: u16,
    pub code: i64,
    #[serde(default)]
    pub error_subcode: Option<i64>,
    #[serde(default = "default_message")]
    pub message: String,
    #[serde(default = "once")]
    pub times: u32,
}

fn bad_request() -> u16 {
    400
}
fn default_message() -> String {
    "An unexpected error has occurred. Please retry your request later.".into()
}
fn once() -> u32 {
    1
}

#[derive(Debug, PartialEq, Eq)]
pub enum NewPhoneError {
    UnknownWaba,
    UnknownCountry,
}

pub struct World {
    pub wabas: HashMap<String, Waba>,
    pub phones: HashMap<String, Phone>,
    pub codes: HashMap<String, Code>,
    pub tokens: HashMap<String, IssuedToken>,
    pub faults: Vec<Fault>,
    pub code_ttl: Duration,
    pub app: App,
}

/// Our Meta app as Meta knows it: its secret (which the App Dashboard can reset), the app access
/// tokens issued with that secret, and the webhooks it is subscribed to, by object.
pub struct App {
    pub id: String,
    pub secret: String,
    pub tokens: HashSet<String>,
    pub subscriptions: BTreeMap<String, AppSubscription>,
}

#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct AppSubscription {
    pub callback_url: String,
    pub fields: Vec<String>,
    #[serde(default = "active")]
    pub active: bool,
}

fn active() -> bool {
    true
}

/// The `whatsapp_business_account` fields Gangway needs (docs/going-live.md).
pub const WHATSAPP_FIELDS: [&str; 4] = [
    "account_update",
    "messages",
    "phone_number_name_update",
    "phone_number_quality_update",
];

impl App {
    /// An app subscribed to every WhatsApp field Gangway needs at `callback_url`.
    pub fn configured(id: &str, secret: &str, callback_url: &str) -> Self {
        let subscription = AppSubscription {
            callback_url: callback_url.to_owned(),
            fields: WHATSAPP_FIELDS.map(str::to_owned).to_vec(),
            active: true,
        };
        Self {
            id: id.to_owned(),
            secret: secret.to_owned(),
            tokens: HashSet::new(),
            subscriptions: BTreeMap::from([("whatsapp_business_account".to_owned(), subscription)]),
        }
    }

    /// `APP_ID|APP_SECRET`, which Graph accepts wherever an app access token is asked for.
    pub fn secret_token(&self) -> String {
        format!("{}|{}", self.id, self.secret)
    }

    pub fn is_app_token(&self, token: &str) -> bool {
        token == self.secret_token() || self.tokens.contains(token)
    }

    /// A new secret: the old one, and every app token issued with it, stop working.
    pub fn reset_secret(&mut self, secret: String) {
        self.secret = secret;
        self.tokens.clear();
    }
}

pub fn random(prefix: &str, len: usize) -> String {
    let tail: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect();
    format!("{prefix}{tail}")
}

impl World {
    /// Two businesses: a coffee shop with two dedicated numbers and one on the Business app, and
    /// a bakery with one number.
    pub fn seeded(code_ttl: Duration, app: App) -> Self {
        let mut world = Self {
            wabas: HashMap::new(),
            phones: HashMap::new(),
            codes: HashMap::new(),
            tokens: HashMap::new(),
            faults: Vec::new(),
            code_ttl,
            app,
        };
        world.add_waba(
            "524126980791429",
            "Sandbox Coffee Co",
            "2729063490586005",
            "Sandbox Coffee Co",
        );
        world.add_phone(
            "106540352242922",
            "+1 555-010-0001",
            "Sandbox Coffee",
            "524126980791429",
            false,
        );
        world.add_phone(
            "106540352242923",
            "+1 555-010-0002",
            "Sandbox Coffee Two",
            "524126980791429",
            false,
        );
        world.add_phone(
            "106540352242924",
            "+1 555-010-0003",
            "Sandbox Coffee App",
            "524126980791429",
            true,
        );
        world.add_waba(
            "524126980791430",
            "Sandbox Bakery",
            "2729063490586006",
            "Sandbox Bakery Ltd",
        );
        world.add_phone(
            "106540352242925",
            "+55 11 5555-0100",
            "Padaria Sandbox",
            "524126980791430",
            false,
        );
        world
    }

    fn add_waba(&mut self, id: &str, name: &str, business_id: &str, business_name: &str) {
        self.wabas.insert(
            id.into(),
            Waba {
                id: id.into(),
                name: name.into(),
                business_id: business_id.into(),
                business_name: business_name.into(),
                subscribed_apps: Vec::new(),
            },
        );
    }

    fn add_phone(&mut self, id: &str, display: &str, name: &str, waba_id: &str, on_app: bool) {
        self.phones.insert(
            id.into(),
            Phone {
                id: id.into(),
                display_phone_number: display.into(),
                verified_name: name.into(),
                waba_id: waba_id.into(),
                is_on_biz_app: on_app,
                verified: true,
                registered_elsewhere: false,
                pin: None,
                registrations: Vec::new(),
                synced: Vec::new(),
                can_send_message: "AVAILABLE".into(),
                quality_rating: "GREEN".into(),
            },
        );
    }

    /// A new number for `waba_id` in `country` (ISO 3166-1 alpha-2), as if the person added one
    /// in the signup dialog.
    pub fn add_new_phone(&mut self, waba_id: &str, country: &str) -> Result<Phone, NewPhoneError> {
        let waba = self.wabas.get(waba_id).ok_or(NewPhoneError::UnknownWaba)?;
        let calling_code = calling_code(country).ok_or(NewPhoneError::UnknownCountry)?;
        let verified_name = waba.name.clone();
        let mut rng = rand::thread_rng();
        let (id, display) = loop {
            let id = format!("1065{:011}", rng.gen_range(0..100_000_000_000u64));
            let (a, b) = (rng.gen_range(0..1000), rng.gen_range(0..10_000));
            let display = if calling_code == "1" {
                format!("+1 555-{a:03}-{b:04}")
            } else {
                format!("+{calling_code} 555 {a:03} {b:04}")
            };
            let taken = self
                .phones
                .values()
                .any(|p| p.id == id || p.display_phone_number == display);
            if !taken {
                break (id, display);
            }
        };
        self.add_phone(&id, &display, &verified_name, waba_id, false);
        Ok(self.phones[&id].clone())
    }

    /// Marks a number verified or not, and registered elsewhere (a PIN nobody here knows) or not.
    pub fn set_phone_state(&mut self, phone_id: &str, change: PhoneStateChange) -> Option<Phone> {
        let phone = self.phones.get_mut(phone_id)?;
        if let Some(verified) = change.verified {
            phone.verified = verified;
        }
        if let Some(verdict) = change.can_send_message {
            phone.can_send_message = verdict;
        }
        if let Some(rating) = change.quality_rating {
            phone.quality_rating = rating;
        }
        match change.registered_elsewhere {
            Some(true) if !phone.registered_elsewhere => {
                phone.registered_elsewhere = true;
                phone.pin = Some(format!("{:06}", rand::thread_rng().gen_range(0..1_000_000)));
            }
            Some(false) if phone.registered_elsewhere => {
                phone.registered_elsewhere = false;
                phone.pin = None;
            }
            _ => {}
        }
        Some(phone.clone())
    }

    /// The first matching fault, used up by one call.
    pub fn take_fault(&mut self, path: &str) -> Option<Fault> {
        let index = self.faults.iter().position(|f| path.contains(&f.path_contains))?;
        let fault = self.faults[index].clone();
        self.faults[index].times -= 1;
        if self.faults[index].times == 0 {
            self.faults.remove(index);
        }
        Some(fault)
    }
}
