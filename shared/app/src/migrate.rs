//! `migrate`: the one function that changes the store's schema. terraform invokes it on
//! every deploy whose migrations changed (before traffic needs the new schema), and an
//! operator invokes it to make a deployment's first API key, since the database sits in
//! private subnets where `helios keys create` cannot reach it:
//!
//! - `{}` → applies the migrations not yet applied: `{"applied": n}`;
//! - `{"create_key": {"name": "me", "role": "admin", "rate": 50}}` → migrates, then makes
//!   a key: `{"applied": n, "id", "name", "role", "key"}`. The secret is in the answer only;
//!   the store keeps its hash.
//!
//! After migrating, it grants the functions' database role (`HELIOS_DB_APP_ROLE`, which
//! the other functions log in as with IAM authentication) reading and writing rows, and
//! nothing else: `migrate` alone connects as the master user and changes the schema. The
//! answer then has `"granted": "<role>"`. Behind RDS Proxy the role logs in to the database
//! with the password of the secret `HELIOS_DB_APP_PASSWORD_SECRET_ARN` (the proxy's), which
//! migrate sets.

use std::sync::Arc;

use crate::keys::{self, IssueError};
use helios_ports::store::{ApiKeys, Role, RowAccess, Schema};
use helios_ports::{Clock, TaskFailure};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    #[serde(default)]
    create_key: Option<KeyRequest>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyRequest {
    name: String,
    role: Role,
    #[serde(default)]
    rate: Option<u32>,
}

pub struct Migrate {
    pub keys: Arc<dyn ApiKeys>,
    pub schema: Arc<dyn Schema>,
    pub clock: Arc<dyn Clock>,
    /// The role to grant row access to, on the PostgreSQL store; none locally.
    pub app_role: Option<AppRole>,
}

/// The functions' database role, how it logs in, and the PostgreSQL store to grant it on.
pub struct AppRole {
    pub name: String,
    pub login: helios_ports::store::Login,
    pub store: Arc<dyn RowAccess>,
}

impl Migrate {
    pub async fn handle(&self, payload: Value) -> Result<Value, TaskFailure> {
        // A scheduled or console invocation may send null; it means "migrate".
        let payload = if payload.is_null() {
            json!({})
        } else {
            payload
        };
        let request: Request = serde_json::from_value(payload).map_err(|e| {
            TaskFailure::of(
                helios_ports::TaskError::BadRequest,
                format!(
                    "expected {{}} or {{\"create_key\": {{\"name\", \"role\", \"rate\"?}}}}: {e}"
                ),
            )
        })?;
        let applied = self.schema.migrate().await.map_err(|e| {
            TaskFailure::of(
                helios_ports::TaskError::Retryable,
                format!("migrating: {e}"),
            )
        })?;
        tracing::info!(applied, "migrations applied");
        let mut answer = json!({ "applied": applied });
        if let Some(role) = &self.app_role {
            role.store
                .grant_dml(&role.name, &role.login)
                .await
                .map_err(|e| match e {
                    helios_ports::store::StoreError::Invalid(e) => {
                        TaskFailure::of(helios_ports::TaskError::BadRequest, e)
                    }
                    e => TaskFailure::of(helios_ports::TaskError::Retryable, e.to_string()),
                })?;
            tracing::info!(role = %role.name, "row access granted");
            answer["granted"] = json!(role.name);
        }
        let Some(k) = request.create_key else {
            return Ok(answer);
        };
        let issued = keys::issue(
            self.keys.as_ref(),
            &k.name,
            k.role,
            k.rate,
            self.clock.now(),
        )
        .await
        .map_err(|e| match e {
            IssueError::Invalid(e) => TaskFailure::of(helios_ports::TaskError::BadRequest, e),
            e @ IssueError::Store(_) => {
                TaskFailure::of(helios_ports::TaskError::Retryable, e.to_string())
            }
        })?;
        tracing::info!(id = %issued.key.id, name = %k.name, role = k.role.as_str(), "API key created");
        answer["id"] = json!(issued.key.id);
        answer["name"] = json!(k.name);
        answer["role"] = json!(k.role);
        answer["key"] = json!(issued.secret);
        Ok(answer)
    }
}
