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
