//! Text Postgres can store. Postgres refuses U+0000 in `text` and `jsonb`, so text from outside
//! (API input, a browser, Meta, a webhook receiver) is checked or cleaned before it gets there.

use serde_json::Value;

pub const NUL_MESSAGE: &str = "must not contain the NUL character (U+0000)";

/// Where the first text holding U+0000 is in a JSON value (object keys count as their object's
/// text): `metadata.a.b`, `allowedConnectionTypes[1]`; `None` when there is none. The top level
/// is `body`.
pub fn nul_path(value: &Value) -> Option<String> {
    fn walk(value: &Value, path: &str) -> Option<String> {
        match value {
            Value::String(text) => text.contains('\0').then(|| path.to_owned()),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, item)| walk(item, &format!("{path}[{i}]"))),
            Value::Object(map) => map.iter().find_map(|(key, item)| {
                if key.contains('\0') {
                    return Some(path.to_owned());
                }
                let child = if path == "body" {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                walk(item, &child)
            }),
            _ => None,
        }
    }
    walk(value, "body")
}

/// Replaces U+0000 with U+FFFD in every text of a JSON value, object keys included.
pub fn replace_nul(value: &mut Value) {
    match value {
        Value::String(text) if text.contains('\0') => *text = text.replace('\0', "\u{FFFD}"),
        Value::Array(items) => items.iter_mut().for_each(replace_nul),
        Value::Object(map) if map.keys().any(|k| k.contains('\0')) => {
            let cleaned = std::mem::take(map)
                .into_iter()
                .map(|(key, mut item)| {
                    replace_nul(&mut item);
                    (key.replace('\0', "\u{FFFD}"), item)
                })
                .collect();
            *map = cleaned;
        }
        Value::Object(map) => map.values_mut().for_each(replace_nul),
        _ => {}
    }
}

/// Whether JSON text may hold an escaped U+0000 (`\u0000`, not `\\u0000`): a quick look that
/// spares parsing twice the bodies that cannot.
pub fn json_may_hold_nul(json: &[u8]) -> bool {
    let needle = b"u0000";
    json.windows(needle.len() + 1).enumerate().any(|(i, window)| {
        window[0] == b'\\' && window[1..].eq_ignore_ascii_case(needle) && {
            // An odd run of backslashes escapes the `u`; an even one is literal backslashes.
            let backslashes = json[..=i].iter().rev().take_while(|b| **b == b'\\').count();
            backslashes % 2 == 1
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_path_of_a_nul_names_the_field_at_any_depth() {
        assert_eq!(nul_path(&json!({"name": "ok"})), None);
        assert_eq!(nul_path(&json!({"name": "a\u{0}b"})).as_deref(), Some("name"));
        let deep = json!({"metadata": {"a": {"b": {"c": "x\u{0}"}}}});
        assert_eq!(nul_path(&deep).as_deref(), Some("metadata.a.b.c"));
        let listed = json!({"allowedConnectionTypes": ["dedicated", "\u{0}"]});
        assert_eq!(nul_path(&listed).as_deref(), Some("allowedConnectionTypes[1]"));
        assert_eq!(
            nul_path(&json!({"metadata": {"k\u{0}": 1}})).as_deref(),
            Some("metadata")
        );
        assert_eq!(nul_path(&json!("\u{0}")).as_deref(), Some("body"));
    }

    #[test]
    fn nul_is_replaced_everywhere() {
        let mut value = json!({"a\u{0}": ["x\u{0}y", {"b": "\u{0}"}], "n": 1});
        replace_nul(&mut value);
        assert_eq!(nul_path(&value), None);
        assert_eq!(value["a\u{FFFD}"][0], "x\u{FFFD}y");
    }

    #[test]
    fn only_an_escaped_nul_is_suspected() {
        assert!(json_may_hold_nul(br#"{"name": "\u0000"}"#));
        assert!(json_may_hold_nul(br#"{"name": "\\\u0000"}"#));
        assert!(!json_may_hold_nul(br#"{"name": "\\u0000"}"#));
        assert!(!json_may_hold_nul(br#"{"name": "u0000"}"#));
        let parsed: Value = serde_json::from_slice(br#"{"name": "\u0000"}"#).unwrap();
        assert_eq!(nul_path(&parsed).as_deref(), Some("name"));
    }
}
