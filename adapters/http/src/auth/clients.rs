//! API clients: one per client application, bound to one tenant, with a hashed secret.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use boxtrace::{Store, StoreError, Tenant};
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::status_cache::{StatusCache, CLIENT_CACHE_CAPACITY, DEFAULT_CLIENT_CACHE_TTL};

/// The record kind API clients are stored under.
const KIND: &str = "api-client";

/// A registered API client, as stored (the secret only as a salted hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiClient {
    /// The client id, `btc_…`.
    pub client_id: String,
    /// The tenant's organization.
    pub org_id: String,
    /// The tenant's service.
    pub svc_id: String,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// When revoked; a revoked client gets no token and its tokens stop working.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
    salt: String,
    secret_hash: String,
}

impl ApiClient {
    /// The tenant the client acts for.
    pub fn tenant(&self) -> Tenant {
        Tenant::new(&self.org_id, &self.svc_id)
    }

    /// Whether `secret` is this client's secret (constant-time comparison).
    pub fn verify(&self, secret: &str) -> bool {
        let given = hash(&self.salt, secret);
        given.len() == self.secret_hash.len()
            && given
                .bytes()
                .zip(self.secret_hash.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

/// Secrets are 256 random bits, so one salted SHA-256 suffices: there is nothing to
/// guess that a slow password hash would protect.
fn hash(salt: &str, secret: &str) -> String {
    let digest = Sha256::new()
        .chain_update(salt.as_bytes())
        .chain_update(secret.as_bytes())
        .finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// Longest `orgId` or `svcId` a client may be bound to: the event contract's limit, so
/// that every client can publish events for its own tenant.
const MAX_TENANT_ID_LEN: usize = 200;

/// Why a client cannot be bound to the tenant asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {problem}")]
pub struct InvalidTenant {
    /// `orgId` or `svcId`.
    pub field: &'static str,
    /// What is wrong with it.
    pub problem: &'static str,
}

/// The tenant of a new client from its two ids, trimmed and checked by the rules the
/// event contract applies to `orgId` and `svcId` (not empty, at most 200 characters, no
/// control characters): a client bound to a tenant that no event can name is useless.
pub fn client_tenant(org_id: &str, svc_id: &str) -> Result<Tenant, InvalidTenant> {
    let check = |field: &'static str, value: &str| -> Result<String, InvalidTenant> {
        let value = value.trim();
        let problem = if value.is_empty() {
            "must not be empty"
        } else if value.chars().count() > MAX_TENANT_ID_LEN {
            "is longer than 200 characters"
        } else if value.chars().any(char::is_control) {
            "must not contain control characters"
        } else {
            return Ok(value.to_owned());
        };
        Err(InvalidTenant { field, problem })
    };
    Ok(Tenant::new(
        check("orgId", org_id)?,
        check("svcId", svc_id)?,
    ))
}

/// A client just created, with its secret: shown once, never stored. Its `Debug` leaves the
/// secret out, so that no log line can carry it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct NewClient {
    /// The client id.
    pub client_id: String,
    /// The secret; store it now, it cannot be shown again.
    pub client_secret: String,
    /// Organization.
    pub org_id: String,
    /// Service.
    pub svc_id: String,
}

impl std::fmt::Debug for NewClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewClient")
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .field("org_id", &self.org_id)
            .field("svc_id", &self.svc_id)
            .finish()
    }
}

/// API clients in the store, with their statuses cached for the token check (see
/// [`Clients::active_tenant`]).
#[derive(Debug, Clone)]
pub struct Clients {
    store: Arc<dyn Store>,
    statuses: Arc<StatusCache>,
}

impl Clients {
    /// Clients kept in `store`, their statuses trusted for the default time
    /// ([`DEFAULT_CLIENT_CACHE_TTL`]).
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self::with_status_ttl(store, DEFAULT_CLIENT_CACHE_TTL)
    }

    /// Clients kept in `store`, a client's status trusted for `ttl` after it was read
    /// (`clientCacheTtl`; zero reads the store on every check).
    pub fn with_status_ttl(store: Arc<dyn Store>, ttl: Duration) -> Self {
        Self {
            store,
            statuses: Arc::new(StatusCache::new(ttl, CLIENT_CACHE_CAPACITY)),
        }
    }

    /// The tenant of `client_id` if it exists and is not revoked: what a bearer token
    /// of the client is checked against on every request. Answered from memory when
    /// the client was read less than the cache's ttl ago, so a revocation written by
    /// another process takes effect within that ttl; one through [`revoke`](Self::revoke)
    /// of this value (or a clone) takes effect at once.
    pub async fn active_tenant(&self, client_id: &str) -> Result<Option<Tenant>, StoreError> {
        let ticket = match self.statuses.lookup(client_id) {
            Ok(status) => return Ok(status),
            Err(ticket) => ticket,
        };
        let status = self
            .get(client_id)
            .await?
            .filter(|c| c.revoked_at.is_none())
            .map(|c| c.tenant());
        self.statuses.fill(client_id, ticket, status.clone());
        Ok(status)
    }

    /// Creates a client for `tenant`.
    pub async fn create(
        &self,
        tenant: &Tenant,
        now: DateTime<Utc>,
    ) -> Result<NewClient, StoreError> {
        let client_id = format!("btc_{}", random_token(12));
        let client_secret = format!("bts_{}", random_token(32));
        let salt = random_token(16);
        let client = ApiClient {
            client_id: client_id.clone(),
            org_id: tenant.org_id.clone(),
            svc_id: tenant.svc_id.clone(),
            created_at: now,
            revoked_at: None,
            secret_hash: hash(&salt, &client_secret),
            salt,
        };
        self.put(&client).await?;
        Ok(NewClient {
            client_id,
            client_secret,
            org_id: client.org_id,
            svc_id: client.svc_id,
        })
    }

    async fn put(&self, client: &ApiClient) -> Result<(), StoreError> {
        let value = serde_json::to_value(client).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.store.put_record(KIND, &client.client_id, &value).await
    }

    /// The client `client_id`, revoked or not.
    pub async fn get(&self, client_id: &str) -> Result<Option<ApiClient>, StoreError> {
        match self.store.get_record(KIND, client_id).await? {
            Some(value) => serde_json::from_value(value)
                .map(Some)
                .map_err(|e| StoreError::Corrupt(e.to_string())),
            None => Ok(None),
        }
    }

    /// Every client.
    pub async fn list(&self) -> Result<Vec<ApiClient>, StoreError> {
        self.store
            .list_records(KIND, "")
            .await?
            .into_iter()
            .map(|(_, v)| serde_json::from_value(v).map_err(|e| StoreError::Corrupt(e.to_string())))
            .collect()
    }

    /// Revokes `client_id`; false if there is no such client.
    pub async fn revoke(&self, client_id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let Some(mut client) = self.get(client_id).await? else {
            return Ok(false);
        };
        client.revoked_at.get_or_insert(now);
        let written = self.put(&client).await;
        // After the write, so that a check cannot re-read the client before it; and
        // whatever it answered: a write that errored may have landed all the same (a
        // timeout after the commit), and the cache must not keep the client active then.
        self.statuses.invalidate(client_id);
        written?;
        Ok(true)
    }

    /// The active client `client_id` if `secret` is its secret.
    pub async fn authenticate(
        &self,
        client_id: &str,
        secret: &str,
    ) -> Result<Option<ApiClient>, StoreError> {
        Ok(self
            .get(client_id)
            .await?
            .filter(|c| c.revoked_at.is_none() && c.verify(secret)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_is_bound_only_to_a_tenant_events_can_name() {
        assert_eq!(
            client_tenant(" org ", "svc\t").unwrap(),
            Tenant::new("org", "svc")
        );
        let refused = |org: &str, svc: &str| client_tenant(org, svc).unwrap_err().field;
        assert_eq!(refused(" ", "svc"), "orgId");
        assert_eq!(refused("org", &"s".repeat(201)), "svcId");
        assert_eq!(refused("o\u{7}rg", "svc"), "orgId");
    }

    #[test]
    fn a_new_clients_debug_leaves_its_secret_out() {
        let new = NewClient {
            client_id: "btc_1".into(),
            client_secret: "bts_very-secret".into(),
            org_id: "o".into(),
            svc_id: "s".into(),
        };
        let shown = format!("{new:?}");
        assert!(
            shown.contains("btc_1") && !shown.contains("very-secret"),
            "{shown}"
        );
    }

    #[tokio::test]
    async fn secrets_are_hashed_and_verified() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(boxtrace::SledStore::open_path(dir.path()).unwrap());
        let clients = Clients::new(store.clone());
        let now = Utc::now();
        let new = clients.create(&Tenant::new("o", "s"), now).await.unwrap();
        let stored = store
            .get_record(KIND, &new.client_id)
            .await
            .unwrap()
            .unwrap();
        assert!(
            !stored.to_string().contains(&new.client_secret),
            "only a hash is stored"
        );
        assert!(clients
            .authenticate(&new.client_id, &new.client_secret)
            .await
            .unwrap()
            .is_some());
        assert!(clients
            .authenticate(&new.client_id, "bts_wrong")
            .await
            .unwrap()
            .is_none());
        assert!(clients.revoke(&new.client_id, now).await.unwrap());
        assert!(clients
            .authenticate(&new.client_id, &new.client_secret)
            .await
            .unwrap()
            .is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_revocation_here_is_seen_at_once_one_elsewhere_within_the_ttl() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(boxtrace::SledStore::open_path(dir.path()).unwrap());
        let ttl = Duration::from_secs(5);
        let here = Clients::with_status_ttl(store.clone(), ttl);
        // Another process on the same store (a second server, or the CLI, on PostgreSQL).
        let elsewhere = Clients::with_status_ttl(store.clone(), ttl);
        let tenant = Tenant::new("o", "s");
        let now = Utc::now();

        let a = here.create(&tenant, now).await.unwrap().client_id;
        assert_eq!(here.active_tenant(&a).await.unwrap(), Some(tenant.clone()));
        assert!(here.revoke(&a, now).await.unwrap());
        assert_eq!(here.active_tenant(&a).await.unwrap(), None, "at once");

        let b = here.create(&tenant, now).await.unwrap().client_id;
        assert_eq!(here.active_tenant(&b).await.unwrap(), Some(tenant.clone()));
        assert!(elsewhere.revoke(&b, now).await.unwrap());
        tokio::time::advance(ttl - Duration::from_millis(1)).await;
        assert_eq!(
            here.active_tenant(&b).await.unwrap(),
            Some(tenant.clone()),
            "answered from memory within the ttl"
        );
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(
            here.active_tenant(&b).await.unwrap(),
            None,
            "read again after it"
        );

        assert_eq!(here.active_tenant("btc_nobody").await.unwrap(), None);
    }
}
