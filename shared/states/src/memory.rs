//! In-memory stand-ins for the optimised integrations a definition calls when no other
//! handler is registered: `sqs:sendMessage`, `sns:publish`, and DynamoDB `getItem`,
//! `putItem`, `updateItem` and `deleteItem`. They answer with the fields the real services
//! answer with, and keep what was sent and stored so that tests can look.
//!
//! DynamoDB items are in the service's typed form (`{"S": "x"}`, `{"N": "1"}`). A table's key
//! is the set of attributes its requests name in `Key`; `putItem` replaces the item that has
//! the same values for them (or, before any `Key` was seen, the same `pk`/`sk`, or the same
//! first attribute).

use std::cell::RefCell;
use std::collections::HashMap;

use serde_json::{json, Map, Value};

use crate::error::{quote, Failure};
use crate::intrinsic::uuid_v4;

#[derive(Default)]
pub struct Memory {
    /// Queue URL → message bodies, in the order sent.
    pub queues: RefCell<HashMap<String, Vec<Value>>>,
    /// Topic ARN → messages, in the order published.
    pub topics: RefCell<HashMap<String, Vec<Value>>>,
    tables: RefCell<HashMap<String, Table>>,
}

#[derive(Default)]
struct Table {
    key: Vec<String>,
    items: Vec<Map<String, Value>>,
}

fn validation(why: impl Into<String>) -> Failure {
    Failure::new("DynamoDB.ValidationException", why)
}

fn text(params: &Value, field: &str, service: &str) -> Result<String, Failure> {
    params
        .get(field)
        .and_then(Value::as_str)
        .map(String::from)
        .ok_or_else(|| {
            Failure::new(
                format!("{service}.ValidationException"),
                format!("{field} is required"),
            )
        })
}

impl Memory {
    /// Answers `service:action`, or `None` when it is not one of the stand-ins.
    pub fn call(
        &self,
        service: &str,
        action: &str,
        params: &Value,
        random: u128,
    ) -> Option<Result<Value, Failure>> {
        let id = uuid_v4(random.to_le_bytes());
        Some(match (service, action) {
            ("sqs", "sendMessage") => self.send(params, id),
            ("sns", "publish") => self.publish(params, id),
            ("dynamodb", "putItem") => self.put_item(params),
            ("dynamodb", "getItem") => self.get_item(params),
            ("dynamodb", "deleteItem") => self.delete_item(params),
            ("dynamodb", "updateItem") => self.update_item(params),
            _ => return None,
        })
    }

    fn send(&self, params: &Value, id: String) -> Result<Value, Failure> {
        let url = text(params, "QueueUrl", "SQS")?;
        let body = params
            .get("MessageBody")
            .cloned()
            .ok_or_else(|| Failure::new("SQS.ValidationException", "MessageBody is required"))?;
        let text = match &body {
            Value::String(s) => s.clone(),
            other => quote(other),
        };
        let md5 = crate::intrinsic::hash_hex(&text, "MD5").unwrap_or_default();
        self.queues.borrow_mut().entry(url).or_default().push(body);
        Ok(json!({"MD5OfMessageBody": md5, "MessageId": id}))
    }

    fn publish(&self, params: &Value, id: String) -> Result<Value, Failure> {
        let topic = params
            .get("TopicArn")
            .or_else(|| params.get("TargetArn"))
            .and_then(Value::as_str)
            .ok_or_else(|| {
                Failure::new(
                    "SNS.InvalidParameterException",
                    "TopicArn or TargetArn is required",
                )
            })?;
        let message = params
            .get("Message")
            .cloned()
            .ok_or_else(|| Failure::new("SNS.InvalidParameterException", "Message is required"))?;
        self.topics
            .borrow_mut()
            .entry(topic.to_string())
            .or_default()
            .push(message);
        Ok(json!({"MessageId": id}))
    }

    fn with_table<T>(
        &self,
        params: &Value,
        f: impl FnOnce(&mut Table) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        let name = params
            .get("TableName")
            .and_then(Value::as_str)
            .ok_or_else(|| validation("TableName is required"))?;
        let mut tables = self.tables.borrow_mut();
        f(tables.entry(name.to_string()).or_default())
    }

    fn key_of(params: &Value) -> Result<&Map<String, Value>, Failure> {
        params
            .get("Key")
            .and_then(Value::as_object)
            .filter(|k| !k.is_empty())
            .ok_or_else(|| validation("Key is required"))
    }

    fn put_item(&self, params: &Value) -> Result<Value, Failure> {
        let item = params
            .get("Item")
            .and_then(Value::as_object)
            .filter(|i| !i.is_empty())
            .ok_or_else(|| validation("Item is required"))?
            .clone();
        self.with_table(params, |t| {
            let key: Vec<String> = if !t.key.is_empty() {
                t.key.clone()
            } else if item.contains_key("pk") {
                ["pk", "sk"]
                    .iter()
                    .filter(|k| item.contains_key(**k))
                    .map(|k| k.to_string())
                    .collect()
            } else {
                item.keys().take(1).cloned().collect()
            };
            let same = |other: &Map<String, Value>| key.iter().all(|k| other.get(k) == item.get(k));
            let old = t.items.iter().position(same).map(|i| t.items.remove(i));
            t.items.push(item.clone());
            Ok(
                match (old, params.get("ReturnValues").and_then(Value::as_str)) {
                    (Some(o), Some("ALL_OLD")) => json!({"Attributes": o}),
                    _ => json!({}),
                },
            )
        })
    }

    fn find(t: &mut Table, key: &Map<String, Value>) -> Option<usize> {
        if t.key.is_empty() {
            t.key = key.keys().cloned().collect();
        }
        t.items
            .iter()
            .position(|i| key.iter().all(|(k, v)| i.get(k) == Some(v)))
    }

    fn get_item(&self, params: &Value) -> Result<Value, Failure> {
        let key = Self::key_of(params)?;
        self.with_table(params, |t| {
            Ok(match Self::find(t, key) {
                Some(i) => json!({"Item": t.items[i]}),
                None => json!({}),
            })
        })
    }

    fn delete_item(&self, params: &Value) -> Result<Value, Failure> {
        let key = Self::key_of(params)?;
        self.with_table(params, |t| {
            let old = Self::find(t, key).map(|i| t.items.remove(i));
            Ok(
                match (old, params.get("ReturnValues").and_then(Value::as_str)) {
                    (Some(o), Some("ALL_OLD")) => json!({"Attributes": o}),
                    _ => json!({}),
                },
            )
        })
    }

    /// `updateItem` with `SET a = :v, #n = :w` and `ADD n :inc` (numbers) clauses.
    fn update_item(&self, params: &Value) -> Result<Value, Failure> {
        let key = Self::key_of(params)?;
        let expr = params
            .get("UpdateExpression")
            .and_then(Value::as_str)
            .ok_or_else(|| validation("UpdateExpression is required"))?;
        let names = params
            .get("ExpressionAttributeNames")
            .and_then(Value::as_object);
        let values = params
            .get("ExpressionAttributeValues")
            .and_then(Value::as_object);
        let name = |n: &str| -> Result<String, Failure> {
            if n.starts_with('#') {
                names
                    .and_then(|m| m.get(n))
                    .and_then(Value::as_str)
                    .map(String::from)
                    .ok_or_else(|| validation(format!("{n} is not in ExpressionAttributeNames")))
            } else {
                Ok(n.to_string())
            }
        };
        let value = |v: &str| -> Result<Value, Failure> {
            values
                .and_then(|m| m.get(v))
                .cloned()
                .ok_or_else(|| validation(format!("{v} is not in ExpressionAttributeValues")))
        };
        let mut sets = Vec::new();
        let mut adds = Vec::new();
        for (clause, body) in clauses(expr)? {
            for part in body.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                match clause {
                    "SET" => {
                        let (n, v) = part.split_once('=').ok_or_else(|| {
                            validation(format!("`{part}` is not `name = :value`"))
                        })?;
                        sets.push((name(n.trim())?, value(v.trim())?));
                    }
                    _ => {
                        let (n, v) = part
                            .split_once(char::is_whitespace)
                            .ok_or_else(|| validation(format!("`{part}` is not `name :value`")))?;
                        adds.push((name(n.trim())?, value(v.trim())?));
                    }
                }
            }
        }
        self.with_table(params, |t| {
            let i = match Self::find(t, key) {
                Some(i) => i,
                None => {
                    t.items.push(key.clone());
                    t.items.len() - 1
                }
            };
            let item = &mut t.items[i];
            for (n, v) in sets {
                item.insert(n, v);
            }
            for (n, v) in adds {
                let add = v
                    .get("N")
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse::<f64>().ok());
                let Some(add) = add else {
                    return Err(validation(format!("ADD {n} takes a number")));
                };
                let old = item
                    .get(&n)
                    .and_then(|x| x.get("N"))
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse::<f64>().ok())
                    .unwrap_or(0.0);
                let sum = old + add;
                let text = if sum.fract() == 0.0 {
                    format!("{}", sum as i64)
                } else {
                    sum.to_string()
                };
                item.insert(n, json!({"N": text}));
            }
            Ok(match params.get("ReturnValues").and_then(Value::as_str) {
                Some("ALL_NEW") => json!({"Attributes": item}),
                _ => json!({}),
            })
        })
    }
}

/// Splits an update expression into its `SET` and `ADD` clauses.
fn clauses(expr: &str) -> Result<Vec<(&'static str, &str)>, Failure> {
    let mut out = Vec::new();
    let mut rest = expr.trim();
    while !rest.is_empty() {
        let (clause, body) = if let Some(b) = rest.strip_prefix("SET ") {
            ("SET", b)
        } else if let Some(b) = rest.strip_prefix("ADD ") {
            ("ADD", b)
        } else {
            return Err(validation(format!(
                "`{rest}`: only SET and ADD clauses are supported locally"
            )));
        };
        let end = [" SET ", " ADD "]
            .iter()
            .filter_map(|k| body.find(k))
            .min()
            .unwrap_or(body.len());
        out.push((clause, &body[..end]));
        rest = body[end..].trim();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamodb_items_round_trip_and_update() {
        let m = Memory::default();
        let put = json!({"TableName": "t", "Item": {"pk": {"S": "a"}, "n": {"N": "1"}}});
        m.call("dynamodb", "putItem", &put, 1).unwrap().unwrap();
        let key = json!({"TableName": "t", "Key": {"pk": {"S": "a"}}});
        let got = m.call("dynamodb", "getItem", &key, 2).unwrap().unwrap();
        assert_eq!(got["Item"]["n"], json!({"N": "1"}));
        let upd = json!({"TableName": "t", "Key": {"pk": {"S": "a"}}, "UpdateExpression": "SET #s = :s ADD n :one",
            "ExpressionAttributeNames": {"#s": "status"}, "ExpressionAttributeValues": {":s": {"S": "acked"}, ":one": {"N": "2"}},
            "ReturnValues": "ALL_NEW"});
        let out = m.call("dynamodb", "updateItem", &upd, 3).unwrap().unwrap();
        assert_eq!(out["Attributes"]["n"], json!({"N": "3"}));
        assert_eq!(out["Attributes"]["status"], json!({"S": "acked"}));
        m.call("dynamodb", "deleteItem", &key, 4).unwrap().unwrap();
        assert_eq!(
            m.call("dynamodb", "getItem", &key, 5).unwrap().unwrap(),
            json!({})
        );
        let bad = m
            .call("dynamodb", "getItem", &json!({"TableName": "t"}), 6)
            .unwrap()
            .unwrap_err();
        assert_eq!(bad.error, "DynamoDB.ValidationException");
    }

    #[test]
    fn sqs_and_sns_keep_what_was_sent() {
        let m = Memory::default();
        let r = m
            .call(
                "sqs",
                "sendMessage",
                &json!({"QueueUrl": "q", "MessageBody": "hello"}),
                1,
            )
            .unwrap()
            .unwrap();
        assert_eq!(r["MD5OfMessageBody"], "5d41402abc4b2a76b9719d911017c592");
        m.call(
            "sns",
            "publish",
            &json!({"TopicArn": "t", "Message": {"a": 1}}),
            2,
        )
        .unwrap()
        .unwrap();
        assert_eq!(m.queues.borrow()["q"], vec![json!("hello")]);
        assert_eq!(m.topics.borrow()["t"], vec![json!({"a": 1})]);
        assert!(m.call("s3", "getObject", &json!({}), 3).is_none());
    }
}
