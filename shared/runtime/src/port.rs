//! What a Lambda is handed, one capability at a time. Each function declares its ports
//! (`const PORTS` in its `main.rs`); its IAM policy is derived from them (`tests/
//! deployment.rs` compares terraform's policy with [`Port::actions`]), and a port not
//! declared is refused at run time, so the declaration cannot fall behind the code.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use helios_ports::{
    BlobStore, Condition, KeyValue, Message, PortError, Publisher, TextItem, Written,
};

/// One capability a function may be handed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Port {
    /// The store's rows, as the functions' database role (IAM authentication).
    Rows,
    /// The store as its master user, whose password is in a secret: `migrate` alone.
    MasterUser,
    /// Writing raw payloads to the archive.
    ArchiveWrite,
    /// Reading raw payloads back from the archive.
    ArchiveRead,
    /// Publishing to the events topic.
    Publish,
    /// Reading the key-value table.
    KvRead,
    /// Writing the key-value table (conditional puts; counters).
    KvWrite,
    /// The webhook sources' secrets.
    HookSecrets,
    /// Starting workflow executions.
    StartExecutions,
    /// Listing and reading executions and their history.
    ReadExecutions,
    /// Answering a task token (an acknowledgement).
    AnswerTasks,
    /// Being fed by a queue (the event source mapping polls with the function's role).
    ConsumeQueue,
    /// The notify channels' secret.
    ChannelSecrets,
    /// Publishing to the notifications topic (the `email` channel).
    Mail,
    /// Asking the configured Bedrock model (advise, when a model is set).
    Model,
    /// Sending to the live feed's WebSocket connections (API Gateway Management API).
    Sockets,
    /// The event queues and their dead-letter queues, as an operator sees them: depths,
    /// samples of the dead letters, and redrive (`StartMessageMoveTask`, or the message by
    /// message move where SQS lacks it).
    DeadLetters,
}

impl Port {
    pub const ALL: &'static [Port] = &[
        Port::Rows,
        Port::MasterUser,
        Port::ArchiveWrite,
        Port::ArchiveRead,
        Port::Publish,
        Port::KvRead,
        Port::KvWrite,
        Port::HookSecrets,
        Port::StartExecutions,
        Port::ReadExecutions,
        Port::AnswerTasks,
        Port::ConsumeQueue,
        Port::ChannelSecrets,
        Port::Mail,
        Port::Model,
        Port::Sockets,
        Port::DeadLetters,
    ];

    /// The operations the adapters make for this port (`helios_aws::iam::OPERATIONS`).
    pub fn operations(self) -> &'static [&'static str] {
        match self {
            Port::Rows => &["rds-db.connect"],
            Port::MasterUser => &["secretsmanager.get_secret_value"],
            Port::ArchiveWrite => &["s3.put_object"],
            Port::ArchiveRead => &["s3.get_object"],
            Port::Publish => &["sns.publish_batch"],
            Port::KvRead => &["dynamodb.get_item"],
            Port::KvWrite => &["dynamodb.update_item"],
            Port::HookSecrets | Port::ChannelSecrets => &["secretsmanager.get_secret_value"],
            Port::StartExecutions => &["sfn.start_execution"],
            Port::ReadExecutions => &[
                "sfn.list_executions",
                "sfn.describe_execution",
                "sfn.get_execution_history",
            ],
            Port::AnswerTasks => &["sfn.send_task_success"],
            Port::ConsumeQueue => &[
                "sqs.receive_message",
                "sqs.delete_message",
                "sqs.change_message_visibility",
                "sqs.get_queue_attributes",
            ],
            Port::Mail => &["sns.publish"],
            Port::Model => &["bedrockruntime.converse"],
            Port::Sockets => &["apigatewaymanagement.post_to_connection"],
            Port::DeadLetters => &[
                "sqs.get_queue_url",
                "sqs.get_queue_attributes",
                "sqs.receive_message",
                "sqs.change_message_visibility",
                "sqs.start_message_move_task",
                "sqs.send_message",
                "sqs.delete_message",
            ],
        }
    }

    /// The IAM actions a function handed `ports` needs, and no other.
    pub fn actions(ports: &[Port]) -> BTreeSet<&'static str> {
        ports
            .iter()
            .flat_map(|p| p.operations())
            .map(|op| {
                helios_aws::iam::action(op)
                    .unwrap_or_else(|| panic!("{op} is not in helios_aws::iam::OPERATIONS"))
            })
            .collect()
    }

    /// The port of its name (`"ArchiveWrite"`), as a `main.rs` spells it.
    pub fn named(name: &str) -> Option<Port> {
        Port::ALL.iter().copied().find(|p| format!("{p:?}") == name)
    }
}

fn not_handed(what: &str, port: Port) -> PortError {
    PortError::Invalid(format!(
        "{what}: this function was not handed Port::{port:?}; declare it in its PORTS (terraform grants what they name)"
    ))
}

/// The archive, as far as the ports handed allow (`inner` is `None` when neither was).
pub struct HandedBlobs {
    pub inner: Option<Arc<dyn BlobStore>>,
    pub write: bool,
    pub read: bool,
}

#[async_trait]
impl BlobStore for HandedBlobs {
    async fn put(&self, key: &str, body: Bytes, content_type: &str) -> Result<(), PortError> {
        match &self.inner {
            Some(b) if self.write => b.put(key, body, content_type).await,
            _ => Err(not_handed("writing the archive", Port::ArchiveWrite)),
        }
    }
    async fn get(&self, key: &str) -> Result<Option<Bytes>, PortError> {
        match &self.inner {
            Some(b) if self.read => b.get(key).await,
            _ => Err(not_handed("reading the archive", Port::ArchiveRead)),
        }
    }
    fn locate(&self, key: &str) -> String {
        match &self.inner {
            Some(b) => b.locate(key),
            None => key.to_string(),
        }
    }
}

/// The key-value table, as far as the ports handed allow (`inner` is `None` when neither
/// was). Deleting is no port's: no function deletes (items expire).
pub struct HandedKv {
    pub inner: Option<Arc<dyn KeyValue>>,
    pub read: bool,
    pub write: bool,
}

impl HandedKv {
    fn with(&self, allowed: bool, what: &str, port: Port) -> Result<&dyn KeyValue, PortError> {
        match &self.inner {
            Some(kv) if allowed => Ok(kv.as_ref()),
            _ => Err(not_handed(what, port)),
        }
    }
}

#[async_trait]
impl KeyValue for HandedKv {
    async fn get_text(&self, key: &str) -> Result<Option<TextItem>, PortError> {
        self.with(self.read, "reading the key-value table", Port::KvRead)?
            .get_text(key)
            .await
    }
    async fn put_text(
        &self,
        key: &str,
        text: String,
        condition: Condition,
        ttl: Option<Duration>,
    ) -> Result<Written, PortError> {
        self.with(self.write, "writing the key-value table", Port::KvWrite)?
            .put_text(key, text, condition, ttl)
            .await
    }
    async fn delete(&self, _key: &str, _condition: Condition) -> Result<Written, PortError> {
        Err(PortError::Invalid(
            "deleting from the key-value table: no function is granted it (items expire)".into(),
        ))
    }
    async fn increment(
        &self,
        key: &str,
        delta: i64,
        ttl: Option<Duration>,
    ) -> Result<i64, PortError> {
        self.with(self.write, "counting in the key-value table", Port::KvWrite)?
            .increment(key, delta, ttl)
            .await
    }
}

/// The events topic, when [`Port::Publish`] is handed; refused otherwise.
pub struct HandedPublisher {
    pub inner: Option<Arc<dyn Publisher>>,
}

#[async_trait]
impl Publisher for HandedPublisher {
    async fn publish(&self, topic: &str, messages: &[Message]) -> Result<(), PortError> {
        match &self.inner {
            Some(p) => p.publish(topic, messages).await,
            None => Err(not_handed("publishing events", Port::Publish)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A port not declared is refused with a message naming it; a declared one passes
    /// through to the adapter.
    #[tokio::test]
    async fn what_was_not_handed_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let files: Arc<dyn BlobStore> =
            Arc::new(helios_local::FileBlobStore::open(dir.path()).unwrap());
        let write_only = HandedBlobs {
            inner: Some(files.clone()),
            write: true,
            read: false,
        };
        write_only
            .put("a/b.json", Bytes::from_static(b"{}"), "application/json")
            .await
            .unwrap();
        let refused = write_only.get("a/b.json").await.unwrap_err().to_string();
        assert!(refused.contains("Port::ArchiveRead"), "{refused}");
        assert!(!refused.is_empty() && !PortError::Invalid(refused.clone()).is_retryable());
        let read_only = HandedBlobs {
            inner: Some(files),
            write: false,
            read: true,
        };
        assert_eq!(
            read_only.get("a/b.json").await.unwrap(),
            Some(Bytes::from_static(b"{}"))
        );
        let refused = read_only
            .put("c", Bytes::new(), "text/plain")
            .await
            .unwrap_err()
            .to_string();
        assert!(refused.contains("Port::ArchiveWrite"), "{refused}");

        let none = HandedPublisher { inner: None };
        let refused = none.publish("events", &[]).await.unwrap_err();
        assert!(refused.to_string().contains("Port::Publish"), "{refused}");
        assert!(!refused.is_retryable());
    }

    #[test]
    fn every_port_has_its_name_and_known_operations() {
        for p in Port::ALL {
            assert_eq!(Port::named(&format!("{p:?}")), Some(*p));
            assert!(!Port::actions(&[*p]).is_empty());
        }
        assert_eq!(
            Port::actions(&[Port::Publish, Port::Mail]),
            BTreeSet::from(["sns:Publish"])
        );
    }
}
