//! The advise Lambda, the optional task of the `decision` workflow: an advisory note beside
//! a decision. The workflow catches every failure of it, so it can never block a decision.

use helios_advise::Advisor;
use helios_runtime::lambda::FunctionPorts;
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    helios_runtime::init_tracing(true);
    let ports = FunctionPorts::from_env().await?;
    let advisor = Advisor {
        store: ports.store,
        clock: ports.clock,
    };
    let advisor = &advisor;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            advisor.handle(event.payload).await.map_err(|f| Diagnostic {
                error_type: f.error.to_string(),
                error_message: f.cause,
            })
        },
    ))
    .await
}
