//! The advise Lambda, the optional task of the `decision` workflow: an advisory note beside
//! a decision. The workflow catches every failure of it, so it can never block a decision.
//! `HELIOS_BEDROCK_MODEL_ID` set: Amazon Bedrock writes the note from the summary.

use helios_runtime::lambda::{FunctionPorts, Port};

/// What this function is handed; its IAM policy is derived from these (tests/deployment.rs).
/// (the model only when HELIOS_BEDROCK_MODEL_ID is set.)
const PORTS: &[Port] = &[Port::Rows, Port::Model];

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    helios_runtime::init_tracing(true);
    let ports = FunctionPorts::from_env(PORTS).await?;
    let model: Option<std::sync::Arc<dyn helios_ports::TextModel>> =
        match std::env::var("HELIOS_BEDROCK_MODEL_ID") {
            Ok(id) if !id.is_empty() => {
                let config = helios_aws::sdk_config().await;
                Some(std::sync::Arc::new(helios_aws::BedrockModel::new(
                    &config, &id,
                )))
            }
            _ => None,
        };
    let advisor = helios_runtime::wire::advisor(&ports, model);
    let advisor = &advisor;
    helios_runtime::lambda::serve_task("advise", |payload| advisor.handle(payload)).await
}
