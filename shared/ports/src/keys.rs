//! API keys as the domain knows them: what a key may do (its role), which sources it may
//! speak for, and how it is kept (its hash, never the key). The stores persist them; the
//! HTTP edge checks them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What an API key may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Send events.
    Ingest,
    /// Read through the query API.
    Read,
    /// Everything, replay, redrive and acknowledgements included.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Ingest => "ingest",
            Role::Read => "read",
            Role::Admin => "admin",
        }
    }

    /// Whether a key with this role may act as `needed`.
    pub fn allows(self, needed: Role) -> bool {
        self == Role::Admin || self == needed
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        match s {
            "ingest" => Ok(Role::Ingest),
            "read" => Ok(Role::Read),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "unknown role `{other}` (expected ingest, read or admin)"
            )),
        }
    }
}

/// An API key as stored: never the key itself, only its hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub role: Role,
    #[serde(skip)]
    pub hash: String,
    /// Requests per second this key may make; the server's default when `None`.
    pub rate_per_second: Option<u32>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// The sources this key may speak for (`ci/buildkite`, or `ci/*` for a prefix); `None`
    /// for every source that no hook and not Helios owns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sources: Option<Vec<String>>,
}

impl ApiKey {
    /// Whether this key may speak for a source a hook owns (`github`, …): an admin key, or
    /// one whose allow-list names it (a bare `*` does not).
    pub fn may_use_hook_source(&self, source: &str) -> bool {
        self.role == Role::Admin
            || self.sources.as_ref().is_some_and(|allowed| {
                allowed
                    .iter()
                    .any(|p| p.as_str() != "*" && source_matches(p, source))
            })
    }

    /// Whether this key may send events of `source` (beside the namespaces no key may use).
    pub fn may_speak_for(&self, source: &str) -> bool {
        self.sources
            .as_ref()
            .is_none_or(|allowed| allowed.iter().any(|p| source_matches(p, source)))
    }
}

/// Whether `source` is what a key's source `pattern` names: itself, or, with a trailing
/// `*`, every source that starts with what comes before it.
fn source_matches(pattern: &str, source: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => source.starts_with(prefix),
        None => source == pattern,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(role: Role, sources: Option<&[&str]>) -> ApiKey {
        ApiKey {
            id: "k".into(),
            name: "k".into(),
            role,
            hash: String::new(),
            rate_per_second: None,
            created_at: Utc::now(),
            revoked_at: None,
            sources: sources.map(|s| s.iter().map(|p| p.to_string()).collect()),
        }
    }

    #[test]
    fn a_list_names_sources_exactly_or_by_prefix() {
        let k = key(Role::Ingest, Some(&["ci/*", "deploy/prod"]));
        assert!(k.may_speak_for("ci/buildkite") && k.may_speak_for("deploy/prod"));
        assert!(!k.may_speak_for("deploy/prod2") && !k.may_speak_for("cix"));
        assert!(key(Role::Ingest, None).may_speak_for("anything"));
    }

    /// A hook's source is open to an admin key, or to a list that names it; a bare `*`
    /// or no list at all does not.
    #[test]
    fn a_hook_source_needs_the_admin_or_a_list_naming_it() {
        assert!(key(Role::Admin, None).may_use_hook_source("github"));
        assert!(key(Role::Ingest, Some(&["github"])).may_use_hook_source("github"));
        assert!(key(Role::Ingest, Some(&["gcp.pubsub/*"])).may_use_hook_source("gcp.pubsub/p/s"));
        assert!(!key(Role::Ingest, Some(&["*"])).may_use_hook_source("github"));
        assert!(!key(Role::Ingest, None).may_use_hook_source("github"));
    }
}
