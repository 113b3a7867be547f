//! The stored form of every event type, at every schema version, is a contract kept as a file in
//! `tests/golden/<stream_type>/<event_type>.v<N>.json`. Events in the store are never rewritten,
//! so every golden file must keep decoding; the files are written once and never edited or
//! regenerated (see `docs/events.md`).
//!
//! Every file decodes with its stream's event enum; a file at the current version must re-encode
//! to the same data, except that fields added since it was written come back as their empty
//! default. A file named `<event_type>.v<N>.<label>.json` is a further example of that version,
//! e.g. as an older writer stored it before an optional field existed.

use gangway_domain::customer::CustomerEvent;
use gangway_domain::evolution::check_upcasters;
use gangway_domain::link::LinkEvent;
use gangway_domain::message::MessageEvent;
use gangway_domain::organization::OrganizationEvent;
use gangway_domain::phone::PhoneEvent;
use gangway_domain::vault::VaultEvent;
use gangway_domain::webhook::EndpointEvent;
use gangway_domain::StreamEvent;
use serde::de::{self, value::MapDeserializer};
use serde_json::Value;
use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

/// Every stream type the golden files cover; a new `StreamEvent` belongs here and in a test below.
const STREAM_TYPES: &[&str] = &[
    LinkEvent::STREAM_TYPE,
    CustomerEvent::STREAM_TYPE,
    OrganizationEvent::STREAM_TYPE,
    PhoneEvent::STREAM_TYPE,
    EndpointEvent::STREAM_TYPE,
    MessageEvent::STREAM_TYPE,
    VaultEvent::STREAM_TYPE,
];

#[test]
fn onboarding_link() {
    check::<LinkEvent>();
}

#[test]
fn customer() {
    check::<CustomerEvent>();
}

#[test]
fn organization() {
    check::<OrganizationEvent>();
}

#[test]
fn phone_number() {
    check::<PhoneEvent>();
}

#[test]
fn webhook_endpoint() {
    check::<EndpointEvent>();
}

#[test]
fn whatsapp_message() {
    check::<MessageEvent>();
}

#[test]
fn vault_secret() {
    check::<VaultEvent>();
}

#[test]
fn every_golden_directory_is_a_checked_stream_type() {
    for entry in std::fs::read_dir(root()).expect("tests/golden exists") {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            STREAM_TYPES.contains(&name.as_str()),
            "tests/golden/{name} is not checked"
        );
    }
}

/// An older writer did not know `step`: reading its event needs no version bump.
#[test]
fn an_absent_optional_field_reads_as_none() {
    let file = read(&root().join("onboarding_link/onboarding_link.failed.v1.without-step.json"));
    assert!(file.data.get("step").is_none());
    let event = LinkEvent::decode(&file.event_type, file.schema_version, &file.data).unwrap();
    assert!(matches!(event, LinkEvent::Failed { step: None, .. }), "{event:?}");
}

fn check<E: StreamEvent + fmt::Debug>() {
    let mut problems = Vec::new();
    let listed: BTreeSet<&str> = E::EVENT_TYPES.iter().copied().collect();
    let variants: BTreeSet<&str> = variant_names::<E>().into_iter().collect();
    if listed.len() != E::EVENT_TYPES.len() || listed != variants {
        problems.push(format!(
            "EVENT_TYPES {:?} must list each variant once: {variants:?}",
            E::EVENT_TYPES
        ));
    }
    if let Err(problem) = check_upcasters::<E>() {
        problems.push(problem);
    }

    let dir = root().join(E::STREAM_TYPE);
    let mut found = BTreeSet::new();
    for path in json_files(&dir) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let file = read(&path);
        let (event_type, version) = (file.event_type.as_str(), file.schema_version);
        let canonical = format!("{event_type}.v{version}.json");
        if !name.starts_with(&format!("{event_type}.v{version}.")) {
            problems.push(format!(
                "{name}: holds {event_type} v{version}, so must be named {canonical}"
            ));
            continue;
        }
        if name == canonical {
            found.insert((event_type.to_owned(), version));
        }
        let event = match E::decode(event_type, version, &file.data) {
            Ok(event) => event,
            Err(err) => {
                problems.push(format!("{name}: {err}"));
                continue;
            }
        };
        if version != E::schema_version(event_type) {
            continue;
        }
        let (encoded_type, encoded) = event.encode().expect("a decoded event encodes");
        if encoded_type != event_type {
            problems.push(format!("{name}: re-encodes as {encoded_type}"));
        } else if let Some(difference) = difference("data", &file.data, &encoded) {
            problems.push(format!("{name}: re-encodes differently: {difference}"));
        }
    }
    for event_type in E::EVENT_TYPES {
        for version in 1..=E::schema_version(event_type) {
            if !found.contains(&(event_type.to_string(), version)) {
                problems.push(format!(
                    "no golden file {}/{event_type}.v{version}.json",
                    E::STREAM_TYPE
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{}:\n{}",
        E::STREAM_TYPE,
        problems.join("\n")
    );
}

/// Where re-encoding did not give back what the file holds. A field the file lacks was added
/// after the file was written (which needs no version bump) and must re-encode as its empty
/// default: `null`, `false`, `0`, `""`, `[]` or `{}`.
fn difference(at: &str, file: &Value, encoded: &Value) -> Option<String> {
    match (file, encoded) {
        (Value::Object(file), Value::Object(encoded)) => {
            if let Some(key) = file.keys().find(|key| !encoded.contains_key(*key)) {
                return Some(format!("{at}.{key} is not re-encoded"));
            }
            encoded.iter().find_map(|(key, value)| match file.get(key) {
                Some(stored) => difference(&format!("{at}.{key}"), stored, value),
                None if is_empty_default(value) => None,
                None => Some(format!("{at}.{key} is absent but re-encodes as {value}")),
            })
        }
        (Value::Array(file), Value::Array(encoded)) if file.len() == encoded.len() => file
            .iter()
            .zip(encoded)
            .enumerate()
            .find_map(|(i, (stored, value))| difference(&format!("{at}[{i}]"), stored, value)),
        _ => (file != encoded).then(|| format!("{at} is {file} but re-encodes as {encoded}")),
    }
}

fn is_empty_default(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
    }
}

struct Golden {
    event_type: String,
    schema_version: i16,
    data: Value,
}

fn read(path: &Path) -> Golden {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let file: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let field = |key: &str| {
        file.get(key)
            .unwrap_or_else(|| panic!("{}: no {key}", path.display()))
    };
    Golden {
        event_type: field("eventType").as_str().expect("eventType is a string").into(),
        schema_version: field("schemaVersion")
            .as_i64()
            .and_then(|v| i16::try_from(v).ok())
            .expect("schemaVersion is a small integer"),
        data: field("data").clone(),
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
}

/// The type names serde accepts for `E`: asked for a type that does not exist, serde reports
/// every variant it knows, which this error keeps.
fn variant_names<E: StreamEvent>() -> Vec<&'static str> {
    #[derive(Debug)]
    struct Known(Option<&'static [&'static str]>);
    impl de::Error for Known {
        fn custom<T: fmt::Display>(_: T) -> Self {
            Self(None)
        }
        fn unknown_variant(_: &str, expected: &'static [&'static str]) -> Self {
            Self(Some(expected))
        }
    }
    impl fmt::Display for Known {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{:?}", self.0)
        }
    }
    impl std::error::Error for Known {}

    let tagged = MapDeserializer::<_, Known>::new(std::iter::once(("type", "no such event type")));
    match E::deserialize(tagged) {
        Err(Known(Some(names))) => names.to_vec(),
        _ => panic!("{}: serde did not list its variants", E::STREAM_TYPE),
    }
}
