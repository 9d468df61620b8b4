//! The live feed's sockets in AWS: the connections of API Gateway's WebSocket API, reached
//! through the API Gateway Management API (`PostToConnection`) at the stage's callback URL,
//! `https://{api-id}.execute-api.{region}.amazonaws.com/{stage}`.

use async_trait::async_trait;
use aws_sdk_apigatewaymanagement::primitives::Blob;
use helios_ports::{Delivery, PortError, Sockets};

use crate::unavailable;

pub struct ApiGatewaySockets {
    client: aws_sdk_apigatewaymanagement::Client,
}

impl ApiGatewaySockets {
    /// The sockets of the stage whose callback URL is `endpoint`.
    pub fn new(config: &aws_config::SdkConfig, endpoint: &str) -> ApiGatewaySockets {
        let conf = aws_sdk_apigatewaymanagement::config::Builder::from(config)
            .endpoint_url(endpoint)
            .build();
        ApiGatewaySockets {
            client: aws_sdk_apigatewaymanagement::Client::from_conf(conf),
        }
    }
}

#[async_trait]
impl Sockets for ApiGatewaySockets {
    async fn send(&self, id: &str, message: &str) -> Result<Delivery, PortError> {
        match self
            .client
            .post_to_connection()
            .connection_id(id)
            .data(Blob::new(message.as_bytes()))
            .send()
            .await
        {
            Ok(_) => Ok(Delivery::Sent),
            // 410: the client went away without a `$disconnect` reaching us.
            Err(e) if e.as_service_error().is_some_and(|s| s.is_gone_exception()) => {
                Ok(Delivery::Gone)
            }
            Err(e) => Err(unavailable("the live sockets", e)),
        }
    }
}
