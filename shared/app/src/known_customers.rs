//! External ids this process has seen held by a customer. A link for one of them goes the
//! existing customer's way first, instead of first trying to create the customer (a statement
//! that the held id makes Postgres refuse and roll back). Only the order of attempts depends on
//! it: a wrong guess costs one read.

use crate::links::CustomerChoice;
use gangway_domain::OrganizationId;
use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};

/// Entries kept at most; past it the set starts again empty.
const CAPACITY: usize = 65_536;

/// Hashes of (organization, external id) found held: a collision only reorders attempts.
#[derive(Clone, Default)]
pub struct KnownCustomers(Arc<Mutex<HashSet<u64>>>);

fn key(org: OrganizationId, customer: &CustomerChoice) -> Option<u64> {
    let CustomerChoice::ByExternalId { external_id, .. } = customer else {
        return None;
    };
    let mut hasher = DefaultHasher::new();
    (org, external_id).hash(&mut hasher);
    Some(hasher.finish())
}

impl KnownCustomers {
    /// Whether `customer` names an external id seen held in `org`.
    pub(crate) fn seen_held(&self, org: OrganizationId, customer: &CustomerChoice) -> bool {
        key(org, customer).is_some_and(|key| self.held().contains(&key))
    }

    /// Notes that `customer`'s external id is held in `org`.
    pub(crate) fn remember_held(&self, org: OrganizationId, customer: &CustomerChoice) {
        let Some(key) = key(org, customer) else { return };
        let mut held = self.held();
        if held.len() >= CAPACITY {
            held.clear();
        }
        held.insert(key);
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashSet<u64>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gangway_domain::CustomerId;

    fn by_external_id(external_id: &str) -> CustomerChoice {
        CustomerChoice::ByExternalId {
            external_id: external_id.into(),
            name: "Acme".into(),
        }
    }

    #[test]
    fn an_external_id_is_seen_held_only_in_its_organization_once_remembered() {
        let (org, other) = (OrganizationId::new(), OrganizationId::new());
        let (known, customer) = (KnownCustomers::default(), by_external_id("acme-1"));
        assert!(!known.seen_held(org, &customer));
        known.remember_held(org, &customer);
        assert!(known.seen_held(org, &customer));
        assert!(!known.seen_held(other, &customer));
        assert!(!known.seen_held(org, &by_external_id("acme-2")));
        let existing = CustomerChoice::Existing(CustomerId::new());
        known.remember_held(org, &existing);
        assert!(!known.seen_held(org, &existing));
    }
}
