//! The Bedrock adapter against a stand-in of the Converse API on 127.0.0.1 (moto has no
//! Bedrock runtime): the request it sends (model in the path, system prompt, one user
//! message, inference settings) and how it reads the answer and a throttle.

use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use helios_ports::TextModel;
use serde_json::{json, Value};

#[derive(Clone, Default)]
struct Seen {
    requests: Arc<Mutex<Vec<(String, Value)>>>,
    status: Arc<Mutex<u16>>,
}

async fn converse(
    State(seen): State<Seen>,
    Path(model): Path<String>,
    body: String,
) -> (StatusCode, [(&'static str, &'static str); 1], String) {
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    seen.requests.lock().unwrap().push((model, body));
    let status = *seen.status.lock().unwrap();
    if status == 429 {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("x-amzn-errortype", "ThrottlingException")],
            json!({"message": "Too many requests"}).to_string(),
        );
    }
    let answer = json!({
        "output": {"message": {"role": "assistant", "content": [{"text": "Check the last deploy "}, {"text": "first."}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 120, "outputTokens": 9, "totalTokens": 129},
        "metrics": {"latencyMs": 42}
    });
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        answer.to_string(),
    )
}

#[tokio::test]
async fn bedrock_converse_sends_the_prompt_and_reads_the_text() {
    let seen = Seen::default();
    *seen.status.lock().unwrap() = 200;
    let app = axum::Router::new()
        .route("/model/{model}/converse", axum::routing::post(converse))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let config = helios_aws::config_loader()
        .endpoint_url(&url)
        .region(aws_config::Region::new("eu-west-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .load()
        .await;
    let model = helios_aws::BedrockModel::new(&config, "eu.anthropic.claude-3-haiku-20240307-v1:0");
    assert_eq!(model.name(), "eu.anthropic.claude-3-haiku-20240307-v1:0");
    let text = model
        .complete("be brief", "The decision: …", 400)
        .await
        .unwrap();
    assert_eq!(text, "Check the last deploy \nfirst.");

    let (path_model, body) = seen.requests.lock().unwrap()[0].clone();
    assert_eq!(path_model, "eu.anthropic.claude-3-haiku-20240307-v1:0");
    assert_eq!(body["system"], json!([{"text": "be brief"}]));
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": [{"text": "The decision: …"}]}])
    );
    assert_eq!(body["inferenceConfig"]["maxTokens"], 400);

    *seen.status.lock().unwrap() = 429;
    let e = model.complete("be brief", "again", 400).await.unwrap_err();
    assert!(e.is_retryable(), "{e}");
    assert!(e.to_string().contains("Bedrock"), "{e}");
}
