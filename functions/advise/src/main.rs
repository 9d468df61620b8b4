//! The advise Lambda, the optional task of the `decision` workflow: an advisory note beside
//! a decision. The workflow catches every failure of it, so it can never block a decision.

use helios_advise::Advisor;
use helios_runtime::lambda::FunctionPorts;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    helios_runtime::init_tracing(true);
    let ports = FunctionPorts::from_env().await?;
    let advisor = Advisor {
        store: ports.store,
        clock: ports.clock,
    };
    let advisor = &advisor;
    helios_runtime::lambda::serve_task(|payload| advisor.handle(payload)).await
}
