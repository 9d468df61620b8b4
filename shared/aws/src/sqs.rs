//! SQS queues, by name. Dead-lettering is the queue's redrive policy (set by terraform): a
//! message received more often than `maxReceiveCount` is moved by SQS itself.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName};
use helios_ports::{Message, PortError, Queue, Received, Redriven};

use crate::unavailable;

pub struct SqsQueues {
    client: aws_sdk_sqs::Client,
    /// Queue name → URL, looked up once.
    urls: Mutex<HashMap<String, String>>,
}

impl SqsQueues {
    pub fn new(config: &aws_config::SdkConfig) -> SqsQueues {
        SqsQueues {
            client: aws_sdk_sqs::Client::new(config),
            urls: Mutex::default(),
        }
    }

    pub fn client(&self) -> &aws_sdk_sqs::Client {
        &self.client
    }

    /// The URL of queue `name` (`GetQueueUrl`, remembered).
    pub async fn url(&self, name: &str) -> Result<String, PortError> {
        if let Some(u) = self.urls.lock().ok().and_then(|m| m.get(name).cloned()) {
            return Ok(u);
        }
        let out = self
            .client
            .get_queue_url()
            .queue_name(name)
            .send()
            .await
            .map_err(|e| {
                if e.as_service_error()
                    .is_some_and(|s| s.is_queue_does_not_exist())
                {
                    PortError::Invalid(format!("no SQS queue is named `{name}`"))
                } else {
                    unavailable("sqs", e)
                }
            })?;
        let url = out
            .queue_url
            .ok_or_else(|| PortError::unavailable("sqs", "GetQueueUrl answered no URL"))?;
        if let Ok(mut m) = self.urls.lock() {
            m.insert(name.to_string(), url.clone());
        }
        Ok(url)
    }
}

/// Whether the service does not know the operation: an error code saying so, or (moto) an
/// HTML 500 page with no error code at all, which AWS never answers.
fn not_implemented<E>(
    e: &aws_sdk_sqs::error::SdkError<E, aws_sdk_sqs::config::http::HttpResponse>,
) -> bool
where
    E: aws_sdk_sqs::error::ProvideErrorMetadata,
{
    let code = e.as_service_error().and_then(|s| s.code());
    let status = e
        .raw_response()
        .map(|r| r.status().as_u16())
        .unwrap_or_default();
    match code {
        Some(c) => {
            c.contains("NotImplemented") || c == "InvalidAction" || c == "UnknownOperationException"
        }
        None => status == 500 || status == 501,
    }
}

fn seconds(d: Duration) -> i32 {
    i32::try_from(d.as_secs()).unwrap_or(i32::MAX)
}

#[async_trait]
impl Queue for SqsQueues {
    /// Puts the messages of dead-letter queue `dlq` back on `source`: `StartMessageMoveTask`
    /// where SQS has it, the portable move where it does not (moto, say).
    async fn redrive(&self, dlq: &str, source: &str) -> Result<Redriven, PortError> {
        let arn = |url: String| async move {
            let out = self
                .client
                .get_queue_attributes()
                .queue_url(url)
                .attribute_names(QueueAttributeName::QueueArn)
                .send()
                .await
                .map_err(|e| unavailable("sqs", e))?;
            out.attributes
                .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
                .ok_or_else(|| PortError::unavailable("sqs", "GetQueueAttributes answered no ARN"))
        };
        let dlq_arn = arn(self.url(dlq).await?).await?;
        let source_arn = arn(self.url(source).await?).await?;
        match self
            .client
            .start_message_move_task()
            .source_arn(dlq_arn)
            .destination_arn(source_arn)
            .send()
            .await
        {
            Ok(out) => Ok(Redriven::MoveTask(out.task_handle.unwrap_or_default())),
            Err(e) if not_implemented(&e) => {
                tracing::info!(
                    dlq,
                    source,
                    "no StartMessageMoveTask here: moving the messages one by one"
                );
                helios_ports::redrive(self, dlq, source)
                    .await
                    .map(Redriven::Moved)
            }
            Err(e) => Err(unavailable("sqs", e)),
        }
    }

    async fn send(&self, queue: &str, message: &Message) -> Result<String, PortError> {
        let url = self.url(queue).await?;
        let mut req = self
            .client
            .send_message()
            .queue_url(url)
            .message_body(&message.body);
        for (k, v) in &message.attributes {
            req = req.message_attributes(
                k,
                MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(v)
                    .build()
                    .map_err(|e| PortError::Invalid(e.to_string()))?,
            );
        }
        let out = req.send().await.map_err(|e| unavailable("sqs", e))?;
        Ok(out.message_id.unwrap_or_default())
    }

    async fn receive(
        &self,
        queue: &str,
        max: usize,
        visibility: Option<Duration>,
    ) -> Result<Vec<Received>, PortError> {
        let url = self.url(queue).await?;
        let out = self
            .client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .set_visibility_timeout(visibility.map(seconds))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| unavailable("sqs", e))?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| {
                let receive_count = m
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1);
                let attributes: BTreeMap<String, String> = m
                    .message_attributes
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|(k, v)| Some((k, v.string_value?)))
                    .collect();
                Received {
                    message_id: m.message_id.unwrap_or_default(),
                    receipt: m.receipt_handle.unwrap_or_default(),
                    body: m.body.unwrap_or_default(),
                    attributes,
                    receive_count,
                }
            })
            .collect())
    }

    /// SQS answers success for a receipt of an earlier receive without deleting the
    /// message: `true` here means SQS took the request.
    async fn delete(&self, queue: &str, receipt: &str) -> Result<bool, PortError> {
        let url = self.url(queue).await?;
        match self
            .client
            .delete_message()
            .queue_url(url)
            .receipt_handle(receipt)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_receipt_handle_is_invalid()) =>
            {
                Ok(false)
            }
            Err(e) => Err(unavailable("sqs", e)),
        }
    }

    async fn change_visibility(
        &self,
        queue: &str,
        receipt: &str,
        visibility: Duration,
    ) -> Result<bool, PortError> {
        let url = self.url(queue).await?;
        match self
            .client
            .change_message_visibility()
            .queue_url(url)
            .receipt_handle(receipt)
            .visibility_timeout(seconds(visibility))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error().is_some_and(|s| {
                    s.is_receipt_handle_is_invalid() || s.is_message_not_inflight()
                }) =>
            {
                Ok(false)
            }
            Err(e) => Err(unavailable("sqs", e)),
        }
    }

    async fn depth(&self, queue: &str) -> Result<(u64, u64), PortError> {
        let url = self.url(queue).await?;
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(|e| unavailable("sqs", e))?;
        let attrs = out.attributes.unwrap_or_default();
        let n = |a: QueueAttributeName| {
            attrs
                .get(&a)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        Ok((
            n(QueueAttributeName::ApproximateNumberOfMessages),
            n(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        ))
    }
}
