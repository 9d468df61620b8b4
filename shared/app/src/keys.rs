//! Issuing API keys: a key is 160 random bits shown once; the store keeps its SHA-256 hash
//! (a fast hash is the right one for random secrets) with a role.

use chrono::{DateTime, Utc};
use helios_ports::store::{ApiKey, ApiKeys, Role};
use sha2::{Digest, Sha256};

/// A key just made: the secret is shown once and never stored.
#[derive(Clone, Debug)]
pub struct IssuedKey {
    pub secret: String,
    pub key: ApiKey,
}

/// Why a key could not be issued.
#[derive(Debug)]
pub enum IssueError {
    /// The request is wrong (or the machine has no randomness): retrying will not help.
    Invalid(String),
    /// The store failed; the caller may retry.
    Store(helios_ports::store::StoreError),
}

impl std::fmt::Display for IssueError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IssueError::Invalid(e) => write!(f, "{e}"),
            IssueError::Store(e) => write!(f, "storing the key: {e}"),
        }
    }
}

impl std::error::Error for IssueError {}

fn random_hex(bytes: usize) -> Result<String, String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| format!("no randomness available: {e}"))?;
    Ok(hex::encode(buf))
}

/// The stored form of a key.
pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Makes a new key (not yet stored).
pub fn generate(
    name: &str,
    role: Role,
    rate_per_second: Option<u32>,
    now: DateTime<Utc>,
) -> Result<IssuedKey, String> {
    let secret = format!("hk_{}", random_hex(20)?);
    Ok(IssuedKey {
        key: key_for(&secret, name, role, rate_per_second, now)?,
        secret,
    })
}

/// Makes a new key and stores its record; the secret is in the answer only.
pub async fn issue(
    store: &dyn ApiKeys,
    name: &str,
    role: Role,
    rate_per_second: Option<u32>,
    now: DateTime<Utc>,
) -> Result<IssuedKey, IssueError> {
    let issued = generate(name, role, rate_per_second, now).map_err(IssueError::Invalid)?;
    store
        .create_api_key(&issued.key)
        .await
        .map_err(IssueError::Store)?;
    Ok(issued)
}

/// The record of a key whose secret is chosen by the operator (`HELIOS_API_KEY`).
pub fn key_for(
    secret: &str,
    name: &str,
    role: Role,
    rate_per_second: Option<u32>,
    now: DateTime<Utc>,
) -> Result<ApiKey, String> {
    if secret.len() < 16 {
        return Err("an API key must be at least 16 characters long".into());
    }
    Ok(ApiKey {
        id: format!("key_{}", random_hex(6)?),
        name: name.to_string(),
        role,
        hash: hash(secret),
        rate_per_second,
        created_at: now,
        revoked_at: None,
        sources: None,
    })
}
