//! A strict reader of the Prometheus text exposition format (version 0.0.4), checking our
//! conventions on top: HELP for every family, `gangway_` names, `_total` counters, `_seconds`
//! histograms, cumulative buckets whose `+Inf` equals `_count`, no duplicate series.

use std::collections::{BTreeMap, HashMap, HashSet};

#[derive(Debug)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

struct Family {
    kind: String,
    help: bool,
}

/// One scrape, checked line by line; panics naming the first line that is not valid exposition
/// text or breaks our conventions (HELP everywhere, `gangway_` names, `_total` counters,
/// `_seconds` histograms, consistent buckets).
pub struct Exposition {
    pub samples: Vec<Sample>,
}

impl Exposition {
    pub fn parse(text: &str) -> Self {
        let mut families: HashMap<String, Family> = HashMap::new();
        let mut samples = Vec::new();
        for line in text.lines() {
            if line.trim().is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
                assert!(valid_name(name), "bad metric name: {line}");
                assert!(!help.trim().is_empty(), "empty HELP: {line}");
                let family = families.entry(name.to_owned()).or_insert(Family {
                    kind: String::new(),
                    help: false,
                });
                assert!(!family.help, "second HELP: {line}");
                family.help = true;
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
                assert!(valid_name(name), "bad metric name: {line}");
                assert!(
                    ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                    "bad type: {line}"
                );
                let family = families.entry(name.to_owned()).or_insert(Family {
                    kind: String::new(),
                    help: false,
                });
                assert!(family.kind.is_empty(), "second TYPE: {line}");
                family.kind = kind.to_owned();
            } else if line.starts_with('#') {
                continue;
            } else {
                let sample = parse_sample(line);
                let family = family_of(&families, &sample.name)
                    .unwrap_or_else(|| panic!("sample before its TYPE: {line}"));
                if family.kind == "histogram" && sample.name.ends_with("_bucket") {
                    assert!(sample.labels.contains_key("le"), "bucket without le: {line}");
                }
                samples.push(sample);
            }
        }
        for (name, family) in &families {
            assert!(family.help, "{name} has no HELP");
            assert!(!family.kind.is_empty(), "{name} has no TYPE");
            assert!(name.starts_with("gangway_"), "{name} lacks the gangway_ prefix");
            match family.kind.as_str() {
                "counter" => assert!(name.ends_with("_total"), "counter {name} must end in _total"),
                "histogram" => assert!(
                    name.ends_with("_seconds"),
                    "histogram {name} must end in _seconds"
                ),
                _ => {}
            }
        }
        let exposition = Self { samples };
        exposition.check_unique();
        exposition.check_histograms(&families);
        exposition
    }

    fn check_unique(&self) {
        let mut seen = HashSet::new();
        for sample in &self.samples {
            assert!(
                seen.insert((sample.name.clone(), sample.labels.clone())),
                "duplicate sample {sample:?}"
            );
        }
    }

    /// Buckets are cumulative and the `+Inf` one equals `_count`.
    fn check_histograms(&self, families: &HashMap<String, Family>) {
        for (name, _) in families.iter().filter(|(_, f)| f.kind == "histogram") {
            let bucket_name = format!("{name}_bucket");
            let mut series: BTreeMap<BTreeMap<String, String>, Vec<(f64, f64)>> = BTreeMap::new();
            for sample in self.samples.iter().filter(|s| s.name == bucket_name) {
                let mut labels = sample.labels.clone();
                let le = labels.remove("le").expect("le");
                let bound = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().expect("numeric le")
                };
                series.entry(labels).or_default().push((bound, sample.value));
            }
            for (labels, mut buckets) in series {
                buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
                assert!(
                    buckets.windows(2).all(|w| w[0].1 <= w[1].1),
                    "{name} buckets not cumulative for {labels:?}"
                );
                let count = self
                    .samples
                    .iter()
                    .find(|s| s.name == format!("{name}_count") && s.labels == labels)
                    .map(|s| s.value);
                assert_eq!(
                    buckets.last().filter(|b| b.0.is_infinite()).map(|b| b.1),
                    count,
                    "{name}: +Inf bucket and _count differ for {labels:?}"
                );
            }
        }
    }

    /// The sum of `name`'s samples whose labels include `labels`; 0 when there are none.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|s| s.name == name)
            .filter(|s| {
                labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
            .sum()
    }

    pub fn delta(&self, before: &Exposition, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(name, labels) - before.value(name, labels)
    }
}

fn family_of<'a>(families: &'a HashMap<String, Family>, sample: &str) -> Option<&'a Family> {
    if let Some(family) = families.get(sample) {
        return Some(family);
    }
    ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
        let family = families.get(sample.strip_suffix(suffix)?)?;
        ["histogram", "summary"]
            .contains(&family.kind.as_str())
            .then_some(family)
    })
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `name{label="value",...} value [timestamp]`, with `\\`, `\"` and `\n` escapes in values.
fn parse_sample(line: &str) -> Sample {
    let name_end = line
        .find(['{', ' '])
        .unwrap_or_else(|| panic!("no value: {line}"));
    let name = &line[..name_end];
    assert!(valid_name(name), "bad metric name: {line}");
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(mut inner) = rest.strip_prefix('{') {
        loop {
            if let Some(after) = inner.strip_prefix('}') {
                rest = after;
                break;
            }
            let (label, after_eq) = inner
                .split_once('=')
                .unwrap_or_else(|| panic!("label without a value: {line}"));
            assert!(
                valid_name(label) && !label.contains(':'),
                "bad label name {label:?}: {line}"
            );
            let quoted = after_eq
                .strip_prefix('"')
                .unwrap_or_else(|| panic!("unquoted label value: {line}"));
            let (value, consumed) = unquote(quoted, line);
            assert!(
                labels.insert(label.to_owned(), value).is_none(),
                "repeated label: {line}"
            );
            inner = &quoted[consumed..];
            match inner.strip_prefix(',') {
                Some(after) => inner = after,
                None => assert!(inner.starts_with('}'), "expected , or }} after a label: {line}"),
            }
        }
    }
    assert!(rest.starts_with(' '), "no space before the value: {line}");
    let mut fields = rest.split_whitespace();
    let value = fields.next().unwrap_or_else(|| panic!("no value: {line}"));
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        number => number
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("bad value {number:?}: {line}")),
    };
    if let Some(timestamp) = fields.next() {
        timestamp
            .parse::<i64>()
            .unwrap_or_else(|_| panic!("bad timestamp: {line}"));
    }
    assert!(fields.next().is_none(), "trailing text: {line}");
    Sample {
        name: name.to_owned(),
        labels,
        value,
    }
}

/// A label value after its opening quote: the unescaped text, and the bytes up to and
/// including the closing quote.
fn unquote(quoted: &str, line: &str) -> (String, usize) {
    let mut value = String::new();
    let mut escaped = false;
    for (i, c) in quoted.char_indices() {
        match (escaped, c) {
            (true, '\\') => value.push('\\'),
            (true, '"') => value.push('"'),
            (true, 'n') => value.push('\n'),
            (true, other) => panic!("bad escape \\{other}: {line}"),
            (false, '\\') => {
                escaped = true;
                continue;
            }
            (false, '"') => return (value, i + 1),
            (false, other) => value.push(other),
        }
        escaped = false;
    }
    panic!("unterminated label value: {line}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_text_is_refused() {
        let good =
            "# HELP gangway_x_total Things.\n# TYPE gangway_x_total counter\ngangway_x_total{a=\"b\\\"c\"} 3\n";
        assert_eq!(
            Exposition::parse(good).value("gangway_x_total", &[("a", "b\"c")]),
            3.0
        );
        for bad in [
            "gangway_x_total 1\n",                                               // no TYPE
            "# TYPE gangway_x_total counter\ngangway_x_total 1\n",               // no HELP
            "# HELP gangway_x Things.\n# TYPE gangway_x counter\ngangway_x 1\n", // counter without _total
            "# HELP gangway_x_total T.\n# TYPE gangway_x_total counter\ngangway_x_total{a=b} 1\n", // unquoted
            "# HELP gangway_x_total T.\n# TYPE gangway_x_total counter\ngangway_x_total one\n", // not a number
        ] {
            let parsed = std::panic::catch_unwind(|| Exposition::parse(bad));
            assert!(parsed.is_err(), "accepted: {bad:?}");
        }
    }
}
