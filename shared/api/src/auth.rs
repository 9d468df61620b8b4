//! API keys: `Authorization: Bearer <key>` or `x-api-key: <key>`, stored as SHA-256 hashes
//! (the keys are 160 random bits, so a fast hash is the right one), each with a role.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use helios_app::keys::{IssueError, IssuedKey};
use helios_store::{ApiKey, ApiKeys, Role};

use crate::Problem;

/// Checks API keys against the store, caching look-ups for a few seconds so that a burst
/// of requests costs one query (a revocation takes effect within that time).
pub struct ApiKeyAuth {
    store: Arc<dyn ApiKeys>,
    cache: Mutex<HashMap<String, (Option<ApiKey>, Instant)>>,
    ttl: Duration,
}

impl ApiKeyAuth {
    pub fn new(store: Arc<dyn ApiKeys>, ttl: Duration) -> ApiKeyAuth {
        ApiKeyAuth {
            store,
            cache: Mutex::new(HashMap::new()),
            ttl,
        }
    }

    /// The key presented by a request, if any.
    pub fn presented(headers: &http::HeaderMap) -> Option<&str> {
        if let Some(v) = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        {
            let mut parts = v.splitn(2, ' ');
            if let (Some(scheme), Some(token)) = (parts.next(), parts.next()) {
                if scheme.eq_ignore_ascii_case("bearer") {
                    return Some(token.trim());
                }
            }
        }
        headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    }

    /// The live key presented by the request, or 401.
    pub async fn authenticate(&self, headers: &http::HeaderMap) -> Result<ApiKey, Problem> {
        self.authenticate_secret(Self::presented(headers)).await
    }

    /// The live key whose secret was presented (in a header, or where a route allows it, in
    /// the query string), or 401.
    pub async fn authenticate_secret(&self, secret: Option<&str>) -> Result<ApiKey, Problem> {
        let secret = secret.ok_or_else(|| {
            Problem::unauthenticated("this route needs an API key, in `Authorization: Bearer <key>` or `x-api-key: <key>`")
        })?;
        let hash = helios_app::keys::hash(secret);
        let cached = {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            cache
                .get(&hash)
                .filter(|(_, at)| at.elapsed() < self.ttl)
                .map(|(k, _)| k.clone())
        };
        let key = match cached {
            Some(k) => k,
            None => {
                let k = self
                    .store
                    .find_api_key(&hash)
                    .await
                    .map_err(Problem::from)?;
                let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
                if cache.len() > 10_000 {
                    cache.clear();
                }
                cache.insert(hash, (k.clone(), Instant::now()));
                k
            }
        };
        match key {
            None => Err(Problem::unauthenticated("the API key is not known")),
            Some(k) if k.revoked_at.is_some() => Err(Problem::unauthenticated(format!(
                "the API key {} was revoked",
                k.id
            ))),
            Some(k) => Ok(k),
        }
    }

    /// The presented key if it may act as `role`: 401 without a live key, 403 without the role.
    pub async fn require(&self, headers: &http::HeaderMap, role: Role) -> Result<ApiKey, Problem> {
        self.require_secret(Self::presented(headers), role).await
    }

    /// [`ApiKeyAuth::require`] for a secret presented some other way.
    pub async fn require_secret(
        &self,
        secret: Option<&str>,
        role: Role,
    ) -> Result<ApiKey, Problem> {
        let key = self.authenticate_secret(secret).await?;
        if key.role.allows(role) {
            Ok(key)
        } else {
            Err(Problem::forbidden(format!(
                "the API key {} has the role `{}`; this route needs `{}` (or `admin`)",
                key.id,
                key.role.as_str(),
                role.as_str()
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use helios_app::keys;
    use helios_store::SqliteStore;

    fn headers(pairs: &[(&'static str, &str)]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[tokio::test]
    async fn keys_authenticate_by_either_header_and_roles_are_enforced() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("s.db")).unwrap();
        helios_store::Schema::migrate(&store).await.unwrap();
        let store: Arc<dyn helios_store::Store> = Arc::new(store);
        let issued = keys::generate("ci", Role::Ingest, None, Utc::now()).unwrap();
        assert!(issued.secret.starts_with("hk_") && issued.secret.len() == 43);
        assert_ne!(issued.key.hash, issued.secret, "only the hash is stored");
        store.create_api_key(&issued.key).await.unwrap();
        let auth = ApiKeyAuth::new(store.clone(), Duration::ZERO);

        let bearer = format!("Bearer {}", issued.secret);
        assert_eq!(
            auth.require(&headers(&[("authorization", &bearer)]), Role::Ingest)
                .await
                .unwrap()
                .id,
            issued.key.id
        );
        assert!(auth
            .require(&headers(&[("x-api-key", &issued.secret)]), Role::Ingest)
            .await
            .is_ok());
        assert_eq!(
            auth.require(&headers(&[("x-api-key", &issued.secret)]), Role::Read)
                .await
                .unwrap_err()
                .status,
            403
        );
        assert_eq!(
            auth.require(&headers(&[]), Role::Ingest)
                .await
                .unwrap_err()
                .status,
            401
        );
        assert_eq!(
            auth.require(&headers(&[("x-api-key", "hk_wrong")]), Role::Ingest)
                .await
                .unwrap_err()
                .status,
            401
        );

        store
            .revoke_api_key(&issued.key.id, Utc::now())
            .await
            .unwrap();
        let err = auth
            .require(&headers(&[("x-api-key", &issued.secret)]), Role::Ingest)
            .await
            .unwrap_err();
        assert_eq!(err.status, 401);
        assert!(err.detail.contains("revoked"));
    }

    #[test]
    fn admin_may_do_everything_others_only_their_role() {
        assert!(Role::Admin.allows(Role::Read) && Role::Admin.allows(Role::Ingest));
        assert!(
            !Role::Ingest.allows(Role::Read)
                && !Role::Read.allows(Role::Ingest)
                && !Role::Read.allows(Role::Admin)
        );
    }
}
