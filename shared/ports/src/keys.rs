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
                allowed.iter().any(|p| match p.strip_suffix('*') {
                    Some("") => false,
                    Some(prefix) => source.starts_with(prefix),
                    None => source == p,
                })
            })
    }

    /// Whether this key may send events of `source` (beside the namespaces no key may use).
    pub fn may_speak_for(&self, source: &str) -> bool {
        self.sources.as_ref().is_none_or(|allowed| {
            allowed.iter().any(|p| match p.strip_suffix('*') {
                Some(prefix) => source.starts_with(prefix),
                None => source == p,
            })
        })
    }
}
