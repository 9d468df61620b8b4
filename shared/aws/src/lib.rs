//! The AWS adapters of Helios' ports, through the AWS SDK for Rust:
//!
//! | port | adapter | service |
//! |---|---|---|
//! | [`BlobStore`](helios_ports::BlobStore) | [`S3Blobs`] | S3 (one bucket, keys as given) |
//! | [`Publisher`](helios_ports::Publisher) | [`SnsPublisher`] | SNS (`PublishBatch`, attributes for filter policies) |
//! | [`Queue`](helios_ports::Queue) | [`SqsQueues`] | SQS (queues by name; redrive policies do the dead-lettering) |
//! | [`KeyValue`](helios_ports::KeyValue) | [`DynamoKeyValue`] | DynamoDB (one table, conditional writes, TTL) |
//! | [`Workflows`](helios_ports::Workflows), [`Executions`](helios_ports::Executions) | [`StepFunctions`] | Step Functions |
//! | [`Sockets`](helios_ports::Sockets) | [`ApiGatewaySockets`] | API Gateway Management API (`PostToConnection`) |
//!
//! Clients are built once per process from one SDK configuration ([`sdk_config`]): the
//! default credential and region chain in AWS, or an endpoint (an emulator) when
//! `AWS_ENDPOINT_URL` is set, which the SDK reads itself. Every adapter passes the behaviour
//! suite of `helios_ports::suite`, run against an emulator by `tests/moto.rs`.

//! Each service is a Cargo feature (`s3`, `sns`, `sqs`, `dynamodb`, `sfn`, `bedrock`, `sockets`; all by
//! default), so that a Lambda links the SDKs of the ports it is handed and no other;
//! Secrets Manager and the RDS token signer are always there (every function reaches the
//! database).

#[cfg(feature = "bedrock")]
mod bedrock;
#[cfg(feature = "dynamodb")]
mod dynamo;
pub mod iam;
mod rds;
#[cfg(feature = "s3")]
mod s3;
mod secrets;
#[cfg(feature = "sfn")]
mod sfn;
#[cfg(feature = "sns")]
mod sns;
#[cfg(feature = "sockets")]
mod sockets;
#[cfg(feature = "sqs")]
mod sqs;

#[cfg(feature = "bedrock")]
pub use bedrock::BedrockModel;
#[cfg(feature = "dynamodb")]
pub use dynamo::DynamoKeyValue;
pub use rds::{rds_auth_token, RdsAuth, RDS_TOKEN_LIFETIME};
#[cfg(feature = "s3")]
pub use s3::S3Blobs;
pub use secrets::Secrets;
#[cfg(feature = "sfn")]
pub use sfn::StepFunctions;
#[cfg(feature = "sns")]
pub use sns::{mail_subject, SnsMailer, SnsPublisher};
#[cfg(feature = "sockets")]
pub use sockets::ApiGatewaySockets;
#[cfg(feature = "sqs")]
pub use sqs::SqsQueues;

use helios_ports::PortError;

/// The SDK configuration of this process: credentials, region and endpoint from the
/// environment (`AWS_REGION`, `AWS_ENDPOINT_URL`, the Lambda role, …).
///
/// Every client shares one HTTPS client: hyper 1 with rustls on ring, so that a function
/// links one TLS stack (the one the PostgreSQL store uses) and not the SDK's default second.
pub async fn sdk_config() -> aws_config::SdkConfig {
    config_loader().load().await
}

/// The loader behind [`sdk_config`], for a caller that sets more (an endpoint, a region).
pub fn config_loader() -> aws_config::ConfigLoader {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(https)
}

/// An SDK error as a port error: the service named, the whole error chain in the message.
pub(crate) fn unavailable<E>(port: &'static str, e: E) -> PortError
where
    E: std::error::Error + 'static,
{
    PortError::unavailable(port, aws_sdk_secretsmanager::error::DisplayErrorContext(e))
}
