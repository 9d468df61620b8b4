//! The live sockets' adapter against a stand-in for the API Gateway Management API: a
//! connection the service answers `410 GoneException` for is `Delivery::Gone` (moto answers
//! every connection, so `tests/moto.rs` cannot show this); another failure is an error.

use helios_aws::ApiGatewaySockets;
use helios_ports::{Delivery, Sockets as _};

async fn stand_in() -> String {
    let app = axum::Router::new().route(
        "/@connections/{id}",
        axum::routing::post(
            |axum::extract::Path(id): axum::extract::Path<String>| async move {
                match id.as_str() {
                    "here" => (
                        axum::http::StatusCode::OK,
                        [("x-amzn-errortype", "")],
                        String::new(),
                    ),
                    "gone" => (
                        axum::http::StatusCode::GONE,
                        [("x-amzn-errortype", "GoneException")],
                        r#"{"message":"gone"}"#.to_string(),
                    ),
                    _ => (
                        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                        [("x-amzn-errortype", "InternalServerError")],
                        r#"{"message":"broken"}"#.to_string(),
                    ),
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[tokio::test]
async fn a_gone_connection_is_gone_and_a_failure_is_an_error() {
    let url = stand_in().await;
    let cfg = helios_aws::config_loader()
        .endpoint_url(&url)
        .region(aws_config::Region::new("eu-west-1"))
        .credentials_provider(aws_credential_types::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .load()
        .await;
    let sockets = ApiGatewaySockets::new(&cfg, &url);
    assert_eq!(sockets.send("here", "{}").await.unwrap(), Delivery::Sent);
    assert_eq!(sockets.send("gone", "{}").await.unwrap(), Delivery::Gone);
    let err = sockets.send("broken", "{}").await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
}
