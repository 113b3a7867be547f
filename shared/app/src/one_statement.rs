//! Commands in one round trip. A command whose other writes (claiming an external id or an
//! idempotency key, sealing a secret) must commit with its events runs as one statement outside
//! any transaction: the writes as data-modifying CTEs of the append, the events appended only if
//! every claim succeeded and every stream it extends is still at the version the command read.
//! No `BEGIN`, no `COMMIT`. When a claim fails or a stream moved on, the statement fails as a
//! whole and nothing of it is kept (no claim stays behind), and the command's general path (which
//! can tell why and answer accordingly) runs instead.

use crate::idempotency::IdempotencyKey;
use gangway_domain::{CustomerId, OrganizationId};
use gangway_event_store::{AppendQuery, EventStore, Prelude, RecordedEvent, StoreError, StreamAppend};
use gangway_vault::SealedSecret;
use uuid::Uuid;

/// The CTEs, condition and parameters of one command's statement.
pub(crate) struct OneStatement {
    ctes: Vec<String>,
    /// The claims that must succeed for the events to be appended (none: always).
    claims: Vec<&'static str>,
    /// The key claimed, marked as claimed by this request once the statement appended.
    idempotency: Option<IdempotencyKey>,
    params: Vec<Param>,
}

enum Param {
    Uuid(Uuid),
    Text(String),
    Bytes(Vec<u8>),
}

impl Param {
    fn bind(query: AppendQuery<'_>, value: Param) -> AppendQuery<'_> {
        match value {
            Param::Uuid(v) => query.bind(v),
            Param::Text(v) => query.bind(v),
            Param::Bytes(v) => query.bind(v),
        }
    }
}

impl OneStatement {
    pub fn new() -> Self {
        Self {
            ctes: Vec::new(),
            claims: Vec::new(),
            idempotency: None,
            params: Vec::new(),
        }
    }

    /// Adds a parameter; its `$` number, after the append's twelve.
    fn param(&mut self, value: Param) -> usize {
        self.params.push(value);
        12 + self.params.len()
    }

    /// Claims `external_id` in `org` for the new customer `customer`; the events are appended
    /// only if it was free. (A concurrent claim is waited for: it holds the id if it commits.)
    pub fn claim_external_id(&mut self, org: OrganizationId, external_id: &str, customer: CustomerId) {
        let org = self.param(Param::Uuid(org.as_uuid()));
        let external_id = self.param(Param::Text(external_id.to_owned()));
        let customer = self.param(Param::Uuid(customer.as_uuid()));
        self.ctes.push(format!(
            "claim AS (INSERT INTO customer_external_ids (organization_id, external_id, customer_id) \
             VALUES (${org}, ${external_id}, ${customer}) ON CONFLICT DO NOTHING RETURNING customer_id)"
        ));
        self.claims.push("EXISTS (SELECT 1 FROM claim)");
    }

    /// Claims the request's idempotency key, if it has one. A key on record (taken, or past its
    /// retention and not swept yet) fails the claim: the general path tells which.
    pub fn claim_idempotency_key(&mut self, key: Option<&IdempotencyKey>) {
        let Some(key) = key else { return };
        let org = self.param(Param::Uuid(key.organization.as_uuid()));
        let name = self.param(Param::Text(key.key.clone()));
        let hash = self.param(Param::Bytes(key.request_hash().to_vec()));
        self.ctes.push(format!(
            "idempotency AS (INSERT INTO idempotency_keys (organization_id, key, request_hash) \
             VALUES (${org}, ${name}, ${hash}) ON CONFLICT (organization_id, key) DO NOTHING RETURNING key)"
        ));
        self.claims.push("EXISTS (SELECT 1 FROM idempotency)");
        self.idempotency = Some(key.clone());
    }

    /// The SQL condition of every claim so far.
    fn condition(&self) -> String {
        match self.claims.is_empty() {
            true => "true".into(),
            false => self.claims.join(" AND "),
        }
    }

    /// Stores a sealed secret of `org` in the vault, with the events.
    pub fn store_secret(&mut self, org: OrganizationId, purpose: &str, sealed: SealedSecret) {
        let [id, org, purpose, key, nonce, ciphertext] = [
            self.param(Param::Uuid(sealed.id.as_uuid())),
            self.param(Param::Uuid(org.as_uuid())),
            self.param(Param::Text(purpose.to_owned())),
            self.param(Param::Text(sealed.key_id)),
            self.param(Param::Bytes(sealed.nonce)),
            self.param(Param::Bytes(sealed.ciphertext)),
        ];
        self.ctes.push(format!(
            "secret AS (INSERT INTO vault_secrets (id, organization_id, purpose, key_id, nonce, ciphertext) \
             SELECT ${id}, ${org}, ${purpose}, ${key}, ${nonce}, ${ciphertext} WHERE {} RETURNING id)",
            self.condition()
        ));
    }

    /// Runs the statement with `appends`. `None` when a claim failed or a stream had moved on:
    /// then nothing was written.
    pub async fn append(
        self,
        store: &EventStore,
        appends: Vec<StreamAppend>,
    ) -> Result<Option<Vec<RecordedEvent>>, StoreError> {
        let (ctes, condition) = (self.ctes.join(", "), self.condition());
        let prelude = Prelude {
            ctes: &ctes,
            condition: &condition,
        };
        let params = self.params;
        let appended = store
            .append_with(
                prelude,
                move |query| params.into_iter().fold(query, Param::bind),
                appends,
            )
            .await?;
        if let (Some(_), Some(key)) = (&appended, &self.idempotency) {
            key.mark_claimed();
        }
        Ok(appended)
    }
}
