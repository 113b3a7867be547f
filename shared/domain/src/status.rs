//! Statuses shown to and filtered by API clients: one name per value, one parser per enum.

/// Gives a status enum `ALL`, `as_str` and `parse` from one list of names, so showing a status
/// and reading a filter can never disagree.
macro_rules! named_status {
    ($name:ident, $what:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $name {
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }

            pub fn parse(raw: &str) -> Result<Self, String> {
                match raw {
                    $($text => Ok(Self::$variant),)+
                    other => Err(format!(
                        "'{other}' is not {}; use {}",
                        $what,
                        $crate::status::choices(&[$($text),+])
                    )),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use named_status;

/// `a, b or c`.
pub fn choices(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use crate::link::LinkStatus;
    use crate::phone::PhoneStatus;
    use crate::webhook::EndpointStatus;

    #[test]
    fn every_status_parses_from_its_name_and_nothing_else_does() {
        for status in PhoneStatus::ALL {
            assert_eq!(PhoneStatus::parse(status.as_str()), Ok(*status));
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
        for status in EndpointStatus::ALL {
            assert_eq!(EndpointStatus::parse(status.as_str()), Ok(*status));
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
        for status in LinkStatus::ALL {
            assert_eq!(LinkStatus::parse(status.as_str()), Ok(*status));
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
        assert_eq!(
            PhoneStatus::parse("Connected"),
            Err("'Connected' is not a phone status; use connected or disconnected".into())
        );
        assert!(LinkStatus::parse("done")
            .unwrap_err()
            .contains("pending, completed, failed"));
    }
}
