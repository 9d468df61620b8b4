//! Blobs in one S3 bucket.

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use helios_ports::{BlobStore, PortError};

use crate::unavailable;

pub struct S3Blobs {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Blobs {
    /// `path_style`: address the bucket in the path (`http://host/bucket/key`), as emulators
    /// need; AWS itself takes virtual-hosted style.
    pub fn new(config: &aws_config::SdkConfig, bucket: &str, path_style: bool) -> S3Blobs {
        let conf = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(path_style)
            .build();
        S3Blobs {
            client: aws_sdk_s3::Client::from_conf(conf),
            bucket: bucket.to_string(),
        }
    }

    pub fn client(&self) -> &aws_sdk_s3::Client {
        &self.client
    }
}

#[async_trait]
impl BlobStore for S3Blobs {
    async fn put(&self, key: &str, body: Bytes, content_type: &str) -> Result<(), PortError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| unavailable("s3", e))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, PortError> {
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => {
                let data = out
                    .body
                    .collect()
                    .await
                    .map_err(|e| PortError::unavailable("s3", e))?;
                Ok(Some(data.into_bytes()))
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
            Err(e) => Err(unavailable("s3", e)),
        }
    }

    fn locate(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }
}
