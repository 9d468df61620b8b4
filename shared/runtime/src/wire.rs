//! Builds each use case of `helios-app` from a process's ports: one place, for the Lambda
//! functions ([`FunctionPorts::from_env`]) and for `helios dev` ([`Deployment::ports`]) alike,
//! so that the two run the same thing.

use std::sync::Arc;
use std::time::Duration;

use helios_app::{
    ack::Acknowledge,
    advise::Advisor,
    decide::Decider,
    expect,
    intake::Intake,
    outbox::PublishMode,
    record::Recorder,
    registry::{HeldFacts, Registry, SchemaGate},
};
use helios_ports::{TextModel, Workflows};
use helios_rules::RuleSet;

use crate::lambda::FunctionPorts;
#[cfg(feature = "local")]
use crate::Deployment;
use crate::EVENTS_TOPIC;

/// How long a fact may wait in the outbox before the relay publishes it in Lambda, where the
/// ingest function publishes inline; younger ones are still being published by it.
pub const LAMBDA_RELAY_GRACE: Duration = Duration::from_secs(30);
/// How long `helios dev`'s relay leaves a fact to its background publisher.
pub const DEV_RELAY_GRACE: Duration = Duration::from_secs(2);
/// Facts read from the outbox at a time by the relay.
pub const RELAY_BATCH: usize = 500;

#[cfg(feature = "local")]
impl Deployment {
    /// The ports of a local deployment, as a function would have them (workflows run inside
    /// `helios dev`, not through these ports).
    pub fn ports(&self) -> FunctionPorts {
        FunctionPorts {
            store: self.store.clone(),
            blobs: self.blobs.clone(),
            publisher: Arc::new(self.services.clone()),
            kv: Arc::new(self.services.clone()),
            clock: self.clock.clone(),
            secrets: self.secrets.clone(),
            workflows: None,
            sockets: None,
            queues: Some(Arc::new(self.services.clone())),
        }
    }
}

/// Accepting events: publishing inline in Lambda (work left after the answer may be frozen
/// with the execution environment), in the background on a long-running server.
pub fn intake(p: &FunctionPorts, publish: PublishMode) -> Intake {
    Intake {
        facts: p.store.clone(),
        outbox: p.store.clone(),
        blobs: p.blobs.clone(),
        publisher: p.publisher.clone(),
        kv: p.kv.clone(),
        clock: p.clock.clone(),
        secrets: p.secrets.clone(),
        limits: Default::default(),
        topic: EVENTS_TOPIC.to_string(),
        publish,
        schemas: Arc::new(schema_gate(p, discover_from_env())),
    }
}

/// Whether `HELIOS_DISCOVER_SCHEMAS` turns schema discovery on (`true` or `1`; terraform's
/// `discover_schemas` sets it on the ingest function).
fn discover_from_env() -> bool {
    std::env::var("HELIOS_DISCOVER_SCHEMAS").is_ok_and(|v| v == "true" || v == "1")
}

/// The schema gate of ingest, discovering the schemas of new subjects or not.
pub fn schema_gate(p: &FunctionPorts, discover: bool) -> SchemaGate {
    let gate = SchemaGate::new(p.store.clone(), SCHEMA_TTL);
    if discover {
        gate.discovering(p.clock.clone())
    } else {
        gate
    }
}

/// How long a process keeps a subject's schema and policy before reading them again: a new
/// version or policy reaches every ingest process within this time.
pub const SCHEMA_TTL: Duration = Duration::from_secs(5);

/// Releasing and dropping held facts; a released fact is published as intake publishes.
pub fn held_facts(p: &FunctionPorts) -> HeldFacts {
    HeldFacts {
        quarantine: p.store.clone(),
        facts: p.store.clone(),
        outbox: p.store.clone(),
        publisher: p.publisher.clone(),
        topic: EVENTS_TOPIC.to_string(),
        clock: p.clock.clone(),
    }
}

/// The schema registry, told of the gate of this process's intake.
pub fn registry(p: &FunctionPorts, intake: &Intake) -> Registry {
    Registry {
        store: p.store.clone(),
        clock: p.clock.clone(),
        gate: Some(intake.schemas.clone()),
    }
}

/// The background publisher of a long-running server's intake.
pub fn background_publisher(p: &FunctionPorts) -> PublishMode {
    PublishMode::Background(helios_app::outbox::BackgroundPublisher::spawn(
        p.store.clone(),
        p.publisher.clone(),
        EVENTS_TOPIC.to_string(),
    ))
}

pub fn decider(p: &FunctionPorts, rules: Arc<RuleSet>, workflows: Arc<dyn Workflows>) -> Decider {
    Decider {
        rules,
        kv: p.kv.clone(),
        decisions: p.store.clone(),
        workflows,
        clock: p.clock.clone(),
        windows: Default::default(),
    }
}

pub fn observer(
    p: &FunctionPorts,
    rules: Arc<RuleSet>,
    workflows: Arc<dyn Workflows>,
) -> expect::Observer {
    expect::Observer {
        rules,
        kv: p.kv.clone(),
        workflows,
    }
}

/// The expectation workflow's task; misses are emitted through `emitter` (the ingress path,
/// an [`Intake`]).
pub fn checker(
    p: &FunctionPorts,
    rules: Arc<RuleSet>,
    emitter: Arc<dyn expect::Emit>,
) -> expect::Checker {
    expect::Checker {
        rules,
        kv: p.kv.clone(),
        clock: p.clock.clone(),
        emitter,
    }
}

pub fn recorder(p: &FunctionPorts) -> Recorder {
    Recorder {
        outcomes: p.store.clone(),
        clock: p.clock.clone(),
    }
}

pub fn advisor(p: &FunctionPorts, model: Option<Arc<dyn TextModel>>) -> Advisor {
    Advisor {
        decisions: p.store.clone(),
        outcomes: p.store.clone(),
        clock: p.clock.clone(),
        model,
    }
}

pub fn acknowledge(p: &FunctionPorts, workflows: Arc<dyn Workflows>) -> Acknowledge {
    Acknowledge {
        decisions: p.store.clone(),
        outcomes: p.store.clone(),
        workflows,
        clock: p.clock.clone(),
    }
}

/// One run of the outbox relay over `p`'s store and topic.
pub async fn relay(
    p: &FunctionPorts,
    grace: Duration,
) -> Result<helios_app::outbox::RelayReport, helios_store::StoreError> {
    helios_app::outbox::relay_once(
        p.store.as_ref(),
        p.publisher.as_ref(),
        p.clock.as_ref(),
        EVENTS_TOPIC,
        grace,
        RELAY_BATCH,
    )
    .await
}

/// The live feed's open connections (one key-value item).
pub fn connections(p: &FunctionPorts) -> helios_app::live::Connections {
    helios_app::live::Connections {
        kv: p.kv.clone(),
        clock: p.clock.clone(),
    }
}

/// The live feed's pusher: what the store recorded since the last push, to every open
/// connection through `sockets`.
pub fn pusher(
    p: &FunctionPorts,
    sockets: Arc<dyn helios_ports::Sockets>,
) -> helios_app::live::Pusher {
    helios_app::live::Pusher {
        read: helios_ports::store::read_only(p.store.clone()),
        sockets,
        connections: connections(p),
    }
}
