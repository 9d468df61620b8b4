//! Secrets from AWS Secrets Manager, read at a function's init: the hook secrets, the notify
//! channels; and the master user's database password (the secret RDS manages and rotates),
//! read again whenever a new connection needs it.
//! A secret's value is never logged and never put in an environment variable.

use helios_ports::PortError;
use serde_json::Value;

use crate::unavailable;

#[derive(Clone)]
pub struct Secrets {
    client: aws_sdk_secretsmanager::Client,
}

impl Secrets {
    pub fn new(config: &aws_config::SdkConfig) -> Secrets {
        Secrets {
            client: aws_sdk_secretsmanager::Client::new(config),
        }
    }

    /// The current value of a secret (by ARN or name) as text.
    pub async fn text(&self, id: &str) -> Result<String, PortError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .map_err(|e| unavailable("Secrets Manager", e))?;
        out.secret_string.ok_or_else(|| {
            PortError::Invalid(format!(
                "secret `{id}` has no text value (a binary secret cannot be read as JSON)"
            ))
        })
    }

    /// The current value of a secret holding a JSON object.
    pub async fn json(&self, id: &str) -> Result<serde_json::Map<String, Value>, PortError> {
        let text = self.text(id).await?;
        match serde_json::from_str(&text) {
            Ok(Value::Object(map)) => Ok(map),
            // The value itself stays out of the message.
            _ => Err(PortError::Invalid(format!(
                "secret `{id}` is not a JSON object"
            ))),
        }
    }
}

/// The URL of the database from the secret RDS keeps for its master user (`{"username",
/// "password"}`) and where the database is: always `sslmode=require`, so the connection is
/// encrypted and the server's certificate verified.
pub fn database_url(
    secret: &serde_json::Map<String, Value>,
    host: &str,
    port: u16,
    database: &str,
) -> Result<String, PortError> {
    let field = |name: &str| {
        secret
            .get(name)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                PortError::Invalid(format!(
                    "the database secret has no `{name}` (an RDS-managed secret has `username` and `password`)"
                ))
            })
    };
    // Every character but the unreserved ones percent-encoded: RDS generates passwords
    // with `:`, `/`, `@`, `%`, ….
    let enc = |s: &str| urlencoding::encode(s).into_owned();
    Ok(format!(
        "postgres://{}:{}@{host}:{port}/{}?sslmode=require",
        enc(field("username")?),
        enc(field("password")?),
        enc(database),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_database_url_encodes_any_password_and_always_requires_tls() {
        let missing = database_url(json!({"username": "x"}).as_object().unwrap(), "h", 1, "d");
        assert!(missing.unwrap_err().to_string().contains("`password`"));
        let secret = json!({"username": "helios", "password": "a:b/c@d%e f?"});
        let url = database_url(secret.as_object().unwrap(), "db.internal", 5432, "helios").unwrap();
        assert_eq!(
            url,
            "postgres://helios:a%3Ab%2Fc%40d%25e%20f%3F@db.internal:5432/helios?sslmode=require"
        );
        let parsed: tokio_postgres::Config = url.parse().unwrap();
        assert_eq!(parsed.get_password(), Some(&b"a:b/c@d%e f?"[..]));
        assert_eq!(parsed.get_user(), Some("helios"));
    }
}
