//! Which credential may speak for which `source`.
//!
//! A source is a claim made by whoever holds a credential, and rules trust it (`source:
//! github` fires the GitHub rules). So the source namespaces are split between credentials,
//! and none may cross into another's:
//!
//! - `helios` and `helios/…` belong to Helios itself (missed expectations, reconciliations);
//!   no request from outside may carry them, whatever its key;
//! - `github` belongs to the GitHub hook (its HMAC signature);
//! - `gcp.pubsub/…` to the Pub/Sub hook (its token), which builds it from the subscription;
//! - the Azure namespace to the Event Grid hook (its token): Azure resource paths
//!   (`/subscriptions/…`, as Event Grid writes every topic), Event Grid topic hosts
//!   (`….eventgrid.azure.net`), `azure.eventgrid`, and `eventgrid:…`, under which the
//!   hook records any other source a delivery carries (a custom topic's CloudEvents keep the
//!   publisher's own `source`: `contoso/items` becomes `eventgrid:contoso/items`);
//! - every other source to API keys (`/v1/events`, the EventBridge and CloudEvents hooks).
//!
//! An API key may still speak for a hook's namespace when the operator says so: an admin
//! key (backfills, replays, a relay that forwards GitHub's deliveries it verified itself), or
//! a key whose source allow-list names that namespace (`helios keys create --sources
//! github`). Never for Helios'.
//!
//! Without this, holding only the Event Grid token one could post `source: github` past the
//! HMAC check, take a native `(source, id)` first so that the real event is answered
//! "duplicate", or page people with `helios/expect` `helios.expectation.missed`.

use crate::{Event, Format, NormaliseError};

/// Who a request speaks as: the credential it proved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Speaker {
    /// Helios itself, emitting an event of its own through the ingress path.
    Helios,
    /// A Helios API key.
    ApiKey,
    /// A hook that verifies its sender with the source's own secret.
    Hook(Format),
}

impl Speaker {
    /// The speaker of a request in `format` that authenticated: a hook's own secret, or an
    /// API key for the formats that take one.
    pub fn of(format: Format) -> Speaker {
        if format.verified_by_source_secret() {
            Speaker::Hook(format)
        } else {
            Speaker::ApiKey
        }
    }
}

/// The namespace `source` belongs to.
fn owner(source: &str) -> Speaker {
    if source == "helios" || source.starts_with("helios/") {
        Speaker::Helios
    } else if source == "github" {
        Speaker::Hook(Format::Github)
    } else if source.starts_with("gcp.pubsub/") {
        Speaker::Hook(Format::Pubsub)
    } else if is_azure(source) {
        Speaker::Hook(Format::Eventgrid)
    } else {
        Speaker::ApiKey
    }
}

/// Whether `source` is in the Event Grid hook's namespace.
pub(crate) fn is_azure(source: &str) -> bool {
    let lower = source.to_ascii_lowercase();
    lower.starts_with("/subscriptions/")
        || lower.ends_with(".eventgrid.azure.net")
        || lower == "azure.eventgrid"
        || lower.starts_with("eventgrid:")
}

/// The source an Event Grid delivery is recorded under: its own when it is in the Azure
/// namespace, else the publisher's claim under `eventgrid:`.
pub(crate) fn eventgrid_source(source: &str) -> String {
    if is_azure(source) {
        source.to_string()
    } else {
        format!("eventgrid:{source}")
    }
}

/// Refuses an event whose source belongs to another credential than `speaker`'s. An API key
/// for which `key_may_use_hook_source` answers yes may also speak for hooks' sources (see
/// the module's documentation).
pub fn check(
    speaker: Speaker,
    events: &[Event],
    key_may_use_hook_source: impl Fn(&str) -> bool,
) -> Result<(), NormaliseError> {
    for (i, e) in events.iter().enumerate() {
        let owner = owner(&e.source);
        if owner == speaker
            || (speaker == Speaker::ApiKey
                && matches!(owner, Speaker::Hook(_))
                && key_may_use_hook_source(&e.source))
        {
            continue;
        }
        let whose = match owner {
            Speaker::Helios => "Helios itself (the `helios/` sources are reserved)".to_string(),
            Speaker::Hook(f) => format!(
                "the {f} hook, which verifies its sender (an admin key, or a key whose sources name it, may speak for it too)"
            ),
            Speaker::ApiKey => "API keys".to_string(),
        };
        let by = match speaker {
            Speaker::Helios => "Helios".to_string(),
            Speaker::ApiKey => "an API key".to_string(),
            Speaker::Hook(f) => format!("the {f} hook"),
        };
        return Err(NormaliseError::SourceNotAllowed {
            field: if events.len() > 1 {
                format!("source (event {i})")
            } else {
                "source".into()
            },
            detail: format!(
                "`{}` belongs to {whose}; a request authenticated by {by} may not speak for it",
                e.source
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_namespace_has_one_owner() {
        assert_eq!(owner("helios/expect"), Speaker::Helios);
        assert_eq!(owner("helios"), Speaker::Helios);
        assert_eq!(owner("heliosphere"), Speaker::ApiKey);
        assert_eq!(owner("github"), Speaker::Hook(Format::Github));
        assert_eq!(owner("github.com/x"), Speaker::ApiKey);
        assert_eq!(owner("gcp.pubsub/p/s"), Speaker::Hook(Format::Pubsub));
        for azure in [
            "/subscriptions/x/resourceGroups/rg",
            "/SUBSCRIPTIONS/ID/RESOURCEGROUPS/rg",
            "customeventexample.eastus-1.eventgrid.azure.net",
            "eventgrid:contoso/items",
            "azure.eventgrid",
        ] {
            assert_eq!(owner(azure), Speaker::Hook(Format::Eventgrid), "{azure}");
        }
        assert_eq!(owner("ci/buildkite"), Speaker::ApiKey);
        assert_eq!(owner("aws.ec2"), Speaker::ApiKey);
    }

    #[test]
    fn event_grid_keeps_azure_sources_and_namespaces_the_others() {
        assert_eq!(eventgrid_source("/subscriptions/x"), "/subscriptions/x");
        assert_eq!(eventgrid_source("contoso/items"), "eventgrid:contoso/items");
        assert_eq!(eventgrid_source("github"), "eventgrid:github");
        assert_eq!(eventgrid_source("helios/expect"), "eventgrid:helios/expect");
    }
}
