//! Key-value in one DynamoDB table (partition key `pk`, a string; TTL attribute `ttl`).
//!
//! An item holds its value as JSON text (`v`) or a counter (`n`), a version (`ver`) bumped
//! by every write, and, when it expires, the expiry in milliseconds (`exp_ms`, what reads
//! compare with) and in seconds (`ttl`, what DynamoDB's own expiry deletes by, some time
//! later). An expired item reads as absent and counts as absent for conditions.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Utc};
use helios_ports::{Clock, Condition, KeyValue, PortError, TextItem, Written};

use crate::unavailable;

pub struct DynamoKeyValue {
    client: aws_sdk_dynamodb::Client,
    table: String,
    clock: Arc<dyn Clock>,
}

type Attrs = HashMap<String, AttributeValue>;

fn n(x: i64) -> AttributeValue {
    AttributeValue::N(x.to_string())
}

fn num(attrs: &Attrs, name: &str) -> Option<i64> {
    attrs.get(name)?.as_n().ok()?.parse().ok()
}

/// A write that happened, at the version the item was left with (or had, for a delete).
fn written(attrs: Option<&Attrs>) -> Written {
    Written::Yes {
        version: attrs.and_then(|a| num(a, "ver")).unwrap_or(0).max(0) as u64,
    }
}

/// Whether the condition failed (as opposed to the call).
fn condition_failed<E, R>(e: &aws_sdk_dynamodb::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    e.as_service_error()
        .and_then(|s| s.code())
        .is_some_and(|c| c == "ConditionalCheckFailedException")
}

impl DynamoKeyValue {
    pub fn new(
        config: &aws_config::SdkConfig,
        table: &str,
        clock: Arc<dyn Clock>,
    ) -> DynamoKeyValue {
        DynamoKeyValue {
            client: aws_sdk_dynamodb::Client::new(config),
            table: table.to_string(),
            clock,
        }
    }

    pub fn client(&self) -> &aws_sdk_dynamodb::Client {
        &self.client
    }

    fn now_ms(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }

    /// The expiry as update clauses: what to `SET` when `ttl` is given (with its values
    /// bound), else the attributes to `REMOVE`.
    fn expiry(&self, ttl: Option<Duration>, values: &mut Attrs) -> (&'static str, &'static str) {
        match ttl {
            Some(d) => {
                let exp = self.now_ms() + i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2);
                values.insert(":exp".into(), n(exp));
                values.insert(":ttl".into(), n(exp.div_euclid(1000) + 1));
                (", exp_ms = :exp, #ttl = :ttl", "")
            }
            None => ("", "exp_ms, #ttl"),
        }
    }
}

/// "Absent or expired", as a condition expression (`:now` bound).
const GONE: &str = "(attribute_not_exists(pk) OR exp_ms <= :now)";
/// "Present and live".
const LIVE: &str = "(attribute_exists(pk) AND (attribute_not_exists(exp_ms) OR exp_ms > :now))";

#[async_trait]
impl KeyValue for DynamoKeyValue {
    async fn get_text(&self, key: &str) -> Result<Option<TextItem>, PortError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(key.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("dynamodb", e))?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let exp = num(&item, "exp_ms");
        if exp.is_some_and(|e| e <= self.now_ms()) {
            return Ok(None);
        }
        let text = match (item.get("v").and_then(|v| v.as_s().ok()), num(&item, "n")) {
            (Some(text), _) => text.clone(),
            (None, Some(counter)) => counter.to_string(),
            (None, None) => "null".to_string(),
        };
        Ok(Some(TextItem {
            text,
            version: num(&item, "ver").unwrap_or(0).max(0) as u64,
            expires_at: exp.and_then(DateTime::<Utc>::from_timestamp_millis),
        }))
    }

    async fn put_text(
        &self,
        key: &str,
        value: String,
        condition: Condition,
        ttl: Option<Duration>,
    ) -> Result<Written, PortError> {
        let mut values: Attrs = HashMap::new();
        values.insert(":v".into(), AttributeValue::S(value));
        if condition != Condition::Always {
            // Bound only where a condition reads it: DynamoDB refuses unused values.
            values.insert(":now".into(), n(self.now_ms()));
        }
        values.insert(":one".into(), n(1));
        values.insert(":zero".into(), n(0));
        let (set_exp, remove) = self.expiry(ttl, &mut values);
        let cond = match condition {
            Condition::Always => None,
            Condition::NotExists => Some(GONE.to_string()),
            Condition::VersionIs(v) => {
                values.insert(":ver".into(), n(v as i64));
                Some(format!("{LIVE} AND ver = :ver"))
            }
        };
        // A value replaces a counter, if the key held one.
        let remove = if remove.is_empty() {
            "n".to_string()
        } else {
            format!("n, {remove}")
        };
        let update =
            format!("SET v = :v, ver = if_not_exists(ver, :zero) + :one{set_exp} REMOVE {remove}");
        let req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(key.into()))
            .update_expression(update)
            .set_condition_expression(cond)
            .set_expression_attribute_values(Some(values))
            .expression_attribute_names("#ttl", "ttl")
            .return_values(ReturnValue::UpdatedNew);
        match req.send().await {
            Ok(out) => Ok(written(out.attributes.as_ref())),
            Err(e) if condition_failed(&e) => Ok(Written::ConditionFailed),
            Err(e) => Err(unavailable("dynamodb", e)),
        }
    }

    async fn delete(&self, key: &str, condition: Condition) -> Result<Written, PortError> {
        let mut values: Attrs = HashMap::new();
        let cond = match condition {
            Condition::Always => None,
            Condition::NotExists => {
                values.insert(":now".into(), n(self.now_ms()));
                Some(GONE.to_string())
            }
            Condition::VersionIs(v) => {
                values.insert(":now".into(), n(self.now_ms()));
                values.insert(":ver".into(), n(v as i64));
                Some(format!("{LIVE} AND ver = :ver"))
            }
        };
        match self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(key.into()))
            .set_condition_expression(cond)
            .set_expression_attribute_values((!values.is_empty()).then_some(values))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
        {
            Ok(out) => Ok(written(out.attributes.as_ref())),
            Err(e) if condition_failed(&e) => Ok(Written::ConditionFailed),
            Err(e) => Err(unavailable("dynamodb", e)),
        }
    }

    async fn increment(
        &self,
        key: &str,
        delta: i64,
        ttl: Option<Duration>,
    ) -> Result<i64, PortError> {
        // A live counter is added to; an absent or expired one starts again from zero. Two
        // conditional updates, retried if the item changes state in between.
        for _ in 0..8 {
            for live in [true, false] {
                let mut values: Attrs = HashMap::new();
                values.insert(":d".into(), n(delta));
                values.insert(":now".into(), n(self.now_ms()));
                values.insert(":one".into(), n(1));
                values.insert(":zero".into(), n(0));
                let (set_exp, remove) = self.expiry(ttl, &mut values);
                let (counter, cond) = if live {
                    ("n = if_not_exists(n, :zero) + :d", LIVE)
                } else {
                    ("n = :d", GONE)
                };
                // Without a new ttl, a live counter keeps its expiry; a restarted one has none.
                let remove = match (ttl, live) {
                    (None, false) => format!(" REMOVE {remove}"),
                    _ => String::new(),
                };
                let update = format!(
                    "SET {counter}, ver = if_not_exists(ver, :zero) + :one{set_exp}{remove}"
                );
                let req = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .key("pk", AttributeValue::S(key.into()))
                    .update_expression(update)
                    .condition_expression(cond)
                    .set_expression_attribute_values(Some(values))
                    .return_values(ReturnValue::UpdatedNew);
                let req = if set_exp.is_empty() && remove.is_empty() {
                    req
                } else {
                    req.expression_attribute_names("#ttl", "ttl")
                };
                match req.send().await {
                    Ok(out) => {
                        return out
                            .attributes
                            .as_ref()
                            .and_then(|a| num(a, "n"))
                            .ok_or_else(|| {
                                PortError::unavailable("dynamodb", "the update answered no counter")
                            })
                    }
                    Err(e) if condition_failed(&e) => continue,
                    Err(e) => return Err(unavailable("dynamodb", e)),
                }
            }
        }
        Err(PortError::unavailable(
            "dynamodb",
            format!("the counter `{key}` kept changing under concurrent writes"),
        ))
    }
}
