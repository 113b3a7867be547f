//! Which failures a redelivery may fix.

/// Whether `error` (or what caused it) is the database being unreachable, restarting, out of
/// resources or in a lock conflict: worth retrying forever. Everything else (a constraint, a
/// value Postgres refuses, a document that does not decode, a gap in a stream) fails the same way
/// every time.
pub fn is_transient(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(sqlx) = error.downcast_ref::<sqlx::Error>() {
            return transient_sqlx(sqlx);
        }
        current = error.source();
    }
    false
}

fn transient_sqlx(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(database) => {
            let code = database.code().unwrap_or_default();
            // 08 connection, 40 rollback (serialization, deadlock), 53 resources, 55 object in
            // use / lock not available, 57 operator intervention (shutdown), 58 system error.
            ["08", "40", "53", "55", "57", "58"]
                .iter()
                .any(|class| code.starts_with(class))
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error of a consumer's own that wraps the database's.
    #[derive(Debug)]
    struct Wrapped(sqlx::Error);

    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "projection failed")
        }
    }

    impl std::error::Error for Wrapped {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn outages_are_transient_and_bad_data_is_not() {
        let io = sqlx::Error::Io(std::io::Error::other("connection reset"));
        assert!(is_transient(&io));
        assert!(is_transient(&sqlx::Error::PoolTimedOut));
        assert!(!is_transient(&sqlx::Error::RowNotFound));
        let decode = sqlx::Error::Decode("not a uuid".into());
        assert!(!is_transient(&decode));
        let plain = std::io::Error::other("no database involved");
        assert!(!is_transient(&plain));
        assert!(
            is_transient(&Wrapped(sqlx::Error::PoolClosed)),
            "found through source()"
        );
        assert!(!is_transient(&Wrapped(sqlx::Error::RowNotFound)));
    }
}
