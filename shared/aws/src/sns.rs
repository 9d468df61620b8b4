//! Publishing to SNS topics, by the names Helios gives them.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use helios_ports::{Message, PortError, Publisher};

use crate::unavailable;

pub struct SnsPublisher {
    client: aws_sdk_sns::Client,
    /// Topic name → ARN.
    topics: HashMap<String, String>,
}

/// SNS takes at most ten messages a `PublishBatch`.
const BATCH: usize = 10;

impl SnsPublisher {
    pub fn new(config: &aws_config::SdkConfig, topics: HashMap<String, String>) -> SnsPublisher {
        SnsPublisher {
            client: aws_sdk_sns::Client::new(config),
            topics,
        }
    }
}

#[async_trait]
impl Publisher for SnsPublisher {
    async fn publish(&self, topic: &str, messages: &[Message]) -> Result<(), PortError> {
        let arn = self.topics.get(topic).ok_or_else(|| {
            PortError::Invalid(format!("no SNS topic is configured for `{topic}`"))
        })?;
        for chunk in messages.chunks(BATCH) {
            let mut entries = Vec::with_capacity(chunk.len());
            for (i, m) in chunk.iter().enumerate() {
                let mut entry = PublishBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message(&m.body);
                for (k, v) in &m.attributes {
                    entry = entry.message_attributes(
                        k,
                        MessageAttributeValue::builder()
                            .data_type("String")
                            .string_value(v)
                            .build()
                            .map_err(|e| PortError::Invalid(e.to_string()))?,
                    );
                }
                entries.push(
                    entry
                        .build()
                        .map_err(|e| PortError::Invalid(e.to_string()))?,
                );
            }
            let out = self
                .client
                .publish_batch()
                .topic_arn(arn)
                .set_publish_batch_request_entries(Some(entries))
                .send()
                .await
                .map_err(|e| unavailable("sns", e))?;
            if let Some(failed) = out.failed.as_ref().and_then(|f| f.first()) {
                return Err(PortError::unavailable(
                    "sns",
                    format!(
                        "{} of {} messages not published: {} ({})",
                        out.failed.as_ref().map_or(0, Vec::len),
                        chunk.len(),
                        failed.code,
                        failed.message.as_deref().unwrap_or("no message")
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Notification mails through SNS topics with email subscriptions.
pub struct SnsMailer {
    client: aws_sdk_sns::Client,
}

impl SnsMailer {
    pub fn new(config: &aws_config::SdkConfig) -> SnsMailer {
        SnsMailer {
            client: aws_sdk_sns::Client::new(config),
        }
    }
}

/// A subject SNS accepts: ASCII without control characters (line breaks become spaces,
/// other characters `?`), at most 100 characters.
pub fn mail_subject(subject: &str) -> String {
    let clean: String = subject
        .chars()
        .map(|c| match c {
            c if c.is_ascii_control() => ' ',
            c if c.is_ascii() => c,
            _ => '?',
        })
        .collect();
    let clean: String = clean.trim().chars().take(100).collect();
    if clean.is_empty() {
        "Helios".to_string()
    } else {
        clean
    }
}

#[async_trait]
impl helios_ports::Mailer for SnsMailer {
    async fn mail(&self, topic_arn: &str, subject: &str, body: &str) -> Result<(), PortError> {
        self.client
            .publish()
            .topic_arn(topic_arn)
            .subject(mail_subject(subject))
            .message(body)
            .send()
            .await
            .map_err(|e| unavailable("SNS", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::mail_subject;

    #[test]
    fn a_mail_subject_is_ascii_and_short() {
        assert_eq!(
            mail_subject("[high] CI failing on acme/web"),
            "[high] CI failing on acme/web"
        );
        assert_eq!(mail_subject("déploiement\nraté"), "d?ploiement rat?");
        assert_eq!(mail_subject(&"x".repeat(300)).len(), 100);
        assert_eq!(mail_subject("\n"), "Helios");
    }
}
