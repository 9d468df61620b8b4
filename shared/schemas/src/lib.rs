//! Data contracts (issue 17): how two versions of a JSON Schema differ, and whether a new
//! version may be registered under a subject's compatibility mode, with the meaning those
//! modes have in Confluent's Schema Registry for JSON Schema.
//!
//! - `BACKWARD`: a reader with the new schema reads what was written with the last one: every
//!   document valid under the old schema is valid under the new. The new version may only
//!   *widen* what is accepted.
//! - `FORWARD`: a reader with the last schema reads what is written with the new one: every
//!   document valid under the new schema is valid under the old. The new version may only
//!   *narrow*.
//! - `FULL`: both. The `_TRANSITIVE` forms check against every earlier version, not only the
//!   last. `NONE` checks nothing.
//!
//! [`diff`] walks two schemas side by side and reports each difference with the JSON pointer
//! (into the new schema) where it is and whether it narrows, widens or changes what is
//! accepted. The comparison is by the *effective* schema of each place, so that Confluent's
//! open and closed content models come out right: the schema of a property an object does
//! not name is its `additionalProperties` (`true` when absent). Adding a property to an open
//! content model therefore narrows (the old schema took any value there), adding one to a
//! closed model (`additionalProperties: false`) widens, and removing one does the opposite.
//!
//! What is compared: `type` (with `integer` inside `number`), `properties`,
//! `additionalProperties`, `required`, `enum` and `const`, the numeric bounds
//! (`minimum`, `maximum`, their exclusive forms, `multipleOf`), string bounds (`minLength`,
//! `maxLength`, `pattern`, `format`), arrays (`items`, `minItems`, `maxItems`,
//! `uniqueItems`), `minProperties`/`maxProperties`, boolean schemas, and local `$ref`s (to
//! `#/$defs/…` or `#/definitions/…`). A difference this comparison cannot order (in
//! `anyOf`, `oneOf`, `allOf`, `not`, `if`, a remote `$ref`) is reported as a change both
//! ways, so that no mode lets it through unseen.

pub mod infer;
pub mod reach;
pub mod validate;

pub use infer::infer;
pub use reach::{reach, Reach};
pub use validate::{Drift, InvalidSchema, Validator, Violation};

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use serde_json::{Map, Value};

/// A subject's compatibility mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Mode {
    Backward,
    BackwardTransitive,
    Forward,
    ForwardTransitive,
    Full,
    FullTransitive,
    None,
}

impl Mode {
    pub const ALL: [Mode; 7] = [
        Mode::Backward,
        Mode::BackwardTransitive,
        Mode::Forward,
        Mode::ForwardTransitive,
        Mode::Full,
        Mode::FullTransitive,
        Mode::None,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Backward => "BACKWARD",
            Mode::BackwardTransitive => "BACKWARD_TRANSITIVE",
            Mode::Forward => "FORWARD",
            Mode::ForwardTransitive => "FORWARD_TRANSITIVE",
            Mode::Full => "FULL",
            Mode::FullTransitive => "FULL_TRANSITIVE",
            Mode::None => "NONE",
        }
    }

    /// Whether a narrowing (a document the old version took is refused) breaks this mode.
    fn refuses_narrowing(self) -> bool {
        matches!(
            self,
            Mode::Backward | Mode::BackwardTransitive | Mode::Full | Mode::FullTransitive
        )
    }

    /// Whether a widening (a document the old version refused is taken) breaks this mode.
    fn refuses_widening(self) -> bool {
        matches!(
            self,
            Mode::Forward | Mode::ForwardTransitive | Mode::Full | Mode::FullTransitive
        )
    }

    /// Whether the mode checks against every earlier version, not only the last.
    pub fn is_transitive(self) -> bool {
        matches!(
            self,
            Mode::BackwardTransitive | Mode::ForwardTransitive | Mode::FullTransitive
        )
    }
}

impl Default for Mode {
    /// Confluent's default, and the issue's.
    fn default() -> Mode {
        Mode::Backward
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a compatibility mode (BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE or NONE)")]
pub struct UnknownMode(pub String);

impl FromStr for Mode {
    type Err = UnknownMode;

    fn from_str(s: &str) -> Result<Mode, UnknownMode> {
        Mode::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownMode(s.to_string()))
    }
}

/// Which way a difference moves what is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// The new version refuses some document the old one took: breaks BACKWARD.
    Narrowed,
    /// The new version takes some document the old one refused: breaks FORWARD.
    Widened,
    /// Both at once, or a difference that cannot be ordered: breaks both.
    Changed,
}

impl Direction {
    fn breaks(self, mode: Mode) -> bool {
        match self {
            Direction::Narrowed => mode.refuses_narrowing(),
            Direction::Widened => mode.refuses_widening(),
            Direction::Changed => mode.refuses_narrowing() || mode.refuses_widening(),
        }
    }
}

/// One difference between two versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// Where, as a JSON pointer into the schema (`/properties/conclusion/enum`).
    pub pointer: String,
    /// What kind of difference, as a stable name (`required_added`, `type_narrowed`, …).
    pub kind: &'static str,
    pub direction: Direction,
    /// The difference in words.
    pub detail: String,
}

/// A change that breaks the mode, against one earlier version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Breaking {
    /// The earlier version it breaks against (1 is the first).
    pub version: usize,
    #[serde(flatten)]
    pub change: Change,
}

/// Whether `new` may follow `versions` (oldest first) under `mode`: `Ok` or every change that
/// breaks it, against the last version or, in a transitive mode, against each.
pub fn check(mode: Mode, versions: &[Value], new: &Value) -> Result<(), Vec<Breaking>> {
    if mode == Mode::None || versions.is_empty() {
        return Ok(());
    }
    let against: Vec<usize> = if mode.is_transitive() {
        (0..versions.len()).collect()
    } else {
        vec![versions.len() - 1]
    };
    let mut breaking = Vec::new();
    for i in against {
        for change in diff(&versions[i], new) {
            if change.direction.breaks(mode) {
                breaking.push(Breaking {
                    version: i + 1,
                    change,
                });
            }
        }
    }
    if breaking.is_empty() {
        Ok(())
    } else {
        Err(breaking)
    }
}

/// Every difference between `old` and `new`, in the order met (a depth-first walk).
pub fn diff(old: &Value, new: &Value) -> Vec<Change> {
    let mut w = Walk {
        old_root: old,
        new_root: new,
        out: Vec::new(),
        seen: HashSet::new(),
    };
    w.compare(old, new, String::new());
    w.out
}

struct Walk<'a> {
    old_root: &'a Value,
    new_root: &'a Value,
    out: Vec<Change>,
    /// `$ref` pairs already compared, against reference cycles.
    seen: HashSet<(String, String)>,
}

/// The JSON Schema types, `integer` standing inside `number`.
const TYPES: [&str; 7] = [
    "null", "boolean", "object", "array", "number", "integer", "string",
];

/// Keywords this comparison does not order: any difference in them is `Changed`.
const UNORDERED: [&str; 9] = [
    "anyOf",
    "oneOf",
    "allOf",
    "not",
    "if",
    "then",
    "else",
    "patternProperties",
    "dependentSchemas",
];

impl<'a> Walk<'a> {
    fn push(&mut self, pointer: &str, kind: &'static str, direction: Direction, detail: String) {
        self.out.push(Change {
            pointer: if pointer.is_empty() {
                "/".to_string()
            } else {
                pointer.to_string()
            },
            kind,
            direction,
            detail,
        });
    }

    fn compare(&mut self, old: &'a Value, new: &'a Value, at: String) {
        let (old, new) = match (self.resolve(old, true), self.resolve(new, false)) {
            (Resolved::Schema(o, or), Resolved::Schema(n, nr)) => {
                if let (Some(or), Some(nr)) = (&or, &nr) {
                    if !self.seen.insert((or.clone(), nr.clone())) {
                        return;
                    }
                }
                (o, n)
            }
            (Resolved::Remote(r), _) | (_, Resolved::Remote(r)) => {
                if old != new {
                    self.push(
                        &at,
                        "reference_not_compared",
                        Direction::Changed,
                        format!("`$ref` {r} is not a local reference: the two versions cannot be compared there"),
                    );
                }
                return;
            }
        };
        match (old, new) {
            (Value::Bool(o), Value::Bool(n)) => {
                if o != n {
                    let direction = if *n {
                        Direction::Widened
                    } else {
                        Direction::Narrowed
                    };
                    self.push(
                        &at,
                        if *n { "schema_opened" } else { "schema_closed" },
                        direction,
                        format!("the schema was `{o}` and is `{n}`"),
                    );
                }
            }
            (Value::Bool(true), Value::Object(n)) => {
                if !is_trivial(n) {
                    self.push(
                        &at,
                        "constraint_added",
                        Direction::Narrowed,
                        "anything was accepted here; now only what the new schema allows".into(),
                    );
                }
            }
            (Value::Object(o), Value::Bool(true)) => {
                if !is_trivial(o) {
                    self.push(
                        &at,
                        "constraint_removed",
                        Direction::Widened,
                        "anything is accepted here now".into(),
                    );
                }
            }
            (Value::Bool(false), Value::Object(_)) => {
                self.push(
                    &at,
                    "schema_opened",
                    Direction::Widened,
                    "nothing was accepted here; now what the new schema allows".into(),
                );
            }
            (Value::Object(_), Value::Bool(false)) => {
                self.push(
                    &at,
                    "schema_closed",
                    Direction::Narrowed,
                    "nothing is accepted here any more".into(),
                );
            }
            (Value::Object(o), Value::Object(n)) => self.objects(o, n, at),
            _ => self.push(
                &at,
                "not_a_schema",
                Direction::Changed,
                "a schema is an object or a boolean".into(),
            ),
        }
    }

    fn objects(&mut self, o: &'a Map<String, Value>, n: &'a Map<String, Value>, at: String) {
        self.types(o, n, &at);
        self.values(o, n, &at);
        for (key, larger_narrows) in [
            ("minimum", true),
            ("exclusiveMinimum", true),
            ("maximum", false),
            ("exclusiveMaximum", false),
            ("minLength", true),
            ("maxLength", false),
            ("minItems", true),
            ("maxItems", false),
            ("minProperties", true),
            ("maxProperties", false),
        ] {
            self.bound(o, n, &at, key, larger_narrows);
        }
        self.multiple_of(o, n, &at);
        for key in ["pattern", "format"] {
            self.text(o, n, &at, key);
        }
        match (o.get("uniqueItems"), n.get("uniqueItems")) {
            (a, b) if truthy(a) == truthy(b) => {}
            (_, b) => {
                let narrowed = truthy(b);
                self.push(
                    &format!("{at}/uniqueItems"),
                    if narrowed {
                        "unique_items_added"
                    } else {
                        "unique_items_removed"
                    },
                    if narrowed {
                        Direction::Narrowed
                    } else {
                        Direction::Widened
                    },
                    if narrowed {
                        "the items must now be unique".into()
                    } else {
                        "the items need no longer be unique".into()
                    },
                );
            }
        }
        self.required(o, n, &at);
        self.properties(o, n, &at);
        self.items(o, n, &at);
        for key in UNORDERED {
            if o.get(key) != n.get(key) {
                self.push(
                    &format!("{at}/{key}"),
                    "not_compared",
                    Direction::Changed,
                    format!("`{key}` differs, and this comparison does not order `{key}`"),
                );
            }
        }
    }

    fn types(&mut self, o: &Map<String, Value>, n: &Map<String, Value>, at: &str) {
        let (old, new) = (type_set(o.get("type")), type_set(n.get("type")));
        if old == new {
            return;
        }
        let narrowed = old.iter().any(|t| !accepts(&new, t));
        let widened = new.iter().any(|t| !accepts(&old, t));
        let list = |s: &BTreeSet<&str>| s.iter().copied().collect::<Vec<_>>().join(", ");
        let (kind, direction) = match (narrowed, widened) {
            (true, true) => ("type_changed", Direction::Changed),
            (true, false) => ("type_narrowed", Direction::Narrowed),
            (false, true) => ("type_widened", Direction::Widened),
            (false, false) => return,
        };
        self.push(
            &format!("{at}/type"),
            kind,
            direction,
            format!("the type was {} and is {}", list(&old), list(&new)),
        );
    }

    /// `enum` and `const`, as the set of values allowed (`None`: any).
    fn values(&mut self, o: &Map<String, Value>, n: &Map<String, Value>, at: &str) {
        let set = |m: &Map<String, Value>| -> Option<Vec<Value>> {
            match (m.get("const"), m.get("enum")) {
                (Some(c), Some(Value::Array(e))) => {
                    Some(e.iter().filter(|v| *v == c).cloned().collect())
                }
                (Some(c), _) => Some(vec![c.clone()]),
                (None, Some(Value::Array(e))) => Some(e.clone()),
                _ => None,
            }
        };
        let key = if n.contains_key("const") || o.contains_key("const") {
            "const"
        } else {
            "enum"
        };
        let pointer = format!("{at}/{key}");
        match (set(o), set(n)) {
            (None, None) => {}
            (None, Some(_)) => self.push(
                &pointer,
                "enum_added",
                Direction::Narrowed,
                format!("only the listed values are accepted now (`{key}` added)"),
            ),
            (Some(_), None) => self.push(
                &pointer,
                "enum_removed",
                Direction::Widened,
                format!("any value is accepted now (`{key}` removed)"),
            ),
            (Some(old), Some(new)) => {
                let gone: Vec<&Value> = old.iter().filter(|v| !new.contains(v)).collect();
                let added: Vec<&Value> = new.iter().filter(|v| !old.contains(v)).collect();
                let shown = |vs: &[&Value]| {
                    vs.iter()
                        .map(|v| v.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                match (gone.is_empty(), added.is_empty()) {
                    (true, true) => {}
                    (false, true) => self.push(
                        &pointer,
                        "enum_narrowed",
                        Direction::Narrowed,
                        format!("no longer accepted: {}", shown(&gone)),
                    ),
                    (true, false) => self.push(
                        &pointer,
                        "enum_widened",
                        Direction::Widened,
                        format!("now also accepted: {}", shown(&added)),
                    ),
                    (false, false) => self.push(
                        &pointer,
                        "enum_changed",
                        Direction::Changed,
                        format!(
                            "no longer accepted: {}; now also accepted: {}",
                            shown(&gone),
                            shown(&added)
                        ),
                    ),
                }
            }
        }
    }

    /// A bound where a larger value narrows (`minimum`) or widens (`maximum`); added narrows,
    /// removed widens.
    fn bound(
        &mut self,
        o: &Map<String, Value>,
        n: &Map<String, Value>,
        at: &str,
        key: &str,
        larger_narrows: bool,
    ) {
        let (old, new) = (
            o.get(key).and_then(Value::as_f64),
            n.get(key).and_then(Value::as_f64),
        );
        let direction = match (old, new) {
            (None, None) => return,
            (Some(a), Some(b)) if a == b => return,
            (None, Some(_)) => Direction::Narrowed,
            (Some(_), None) => Direction::Widened,
            (Some(a), Some(b)) => {
                if (b > a) == larger_narrows {
                    Direction::Narrowed
                } else {
                    Direction::Widened
                }
            }
        };
        let show = |v: Option<f64>| v.map_or("none".to_string(), |x| x.to_string());
        self.push(
            &format!("{at}/{key}"),
            match direction {
                Direction::Narrowed => "bound_narrowed",
                _ => "bound_widened",
            },
            direction,
            format!("`{key}` was {} and is {}", show(old), show(new)),
        );
    }

    fn multiple_of(&mut self, o: &Map<String, Value>, n: &Map<String, Value>, at: &str) {
        let (old, new) = (
            o.get("multipleOf").and_then(Value::as_f64),
            n.get("multipleOf").and_then(Value::as_f64),
        );
        let divides = |a: f64, b: f64| a != 0.0 && (b / a).fract() == 0.0;
        let direction = match (old, new) {
            (None, None) => return,
            (Some(a), Some(b)) if a == b => return,
            (None, Some(_)) => Direction::Narrowed,
            (Some(_), None) => Direction::Widened,
            // Every multiple of 10 is a multiple of 5: from 5 to 10 narrows.
            (Some(a), Some(b)) if divides(a, b) => Direction::Narrowed,
            (Some(a), Some(b)) if divides(b, a) => Direction::Widened,
            _ => Direction::Changed,
        };
        self.push(
            &format!("{at}/multipleOf"),
            "multiple_of_changed",
            direction,
            format!("`multipleOf` was {old:?} and is {new:?}"),
        );
    }

    /// `pattern` and `format`: added narrows, removed widens, changed is both.
    fn text(&mut self, o: &Map<String, Value>, n: &Map<String, Value>, at: &str, key: &str) {
        let (old, new) = (o.get(key), n.get(key));
        if old == new {
            return;
        }
        let (kind, direction) = match (old, new) {
            (None, Some(_)) => ("added", Direction::Narrowed),
            (Some(_), None) => ("removed", Direction::Widened),
            _ => ("changed", Direction::Changed),
        };
        let show = |v: Option<&Value>| v.map_or("none".to_string(), |x| x.to_string());
        self.push(
            &format!("{at}/{key}"),
            match (key, kind) {
                ("pattern", "added") => "pattern_added",
                ("pattern", "removed") => "pattern_removed",
                ("pattern", _) => "pattern_changed",
                (_, "added") => "format_added",
                (_, "removed") => "format_removed",
                _ => "format_changed",
            },
            direction,
            format!("`{key}` was {} and is {}", show(old), show(new)),
        );
    }

    fn required(&mut self, o: &Map<String, Value>, n: &Map<String, Value>, at: &str) {
        let names = |m: &Map<String, Value>| -> BTreeSet<String> {
            m.get("required")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        let (old, new) = (names(o), names(n));
        for added in new.difference(&old) {
            self.push(
                &format!("{at}/required"),
                "required_added",
                Direction::Narrowed,
                format!("`{added}` is now required"),
            );
        }
        for removed in old.difference(&new) {
            self.push(
                &format!("{at}/required"),
                "required_removed",
                Direction::Widened,
                format!("`{removed}` is no longer required"),
            );
        }
    }

    /// Each property by its effective schema (its own, or `additionalProperties`), then
    /// `additionalProperties` itself for the names neither version lists.
    fn properties(&mut self, o: &'a Map<String, Value>, n: &'a Map<String, Value>, at: &str) {
        let props = |m: &'a Map<String, Value>| m.get("properties").and_then(Value::as_object);
        let (op, np) = (props(o), props(n));
        if op.is_none()
            && np.is_none()
            && o.get("additionalProperties") == n.get("additionalProperties")
        {
            return;
        }
        let mut names: Vec<&'a String> = op.into_iter().flat_map(|m| m.keys()).collect();
        for k in np.into_iter().flat_map(|m| m.keys()) {
            if !names.contains(&k) {
                names.push(k);
            }
        }
        for name in names {
            let old = effective(o, op, name);
            let new = effective(n, np, name);
            self.compare(old, new, format!("{at}/properties/{}", escape(name)));
        }
        let ap = |m: &'a Map<String, Value>| m.get("additionalProperties").unwrap_or(&TRUE);
        let before = self.out.len();
        self.compare(ap(o), ap(n), format!("{at}/additionalProperties"));
        // Name what moved: closing an open content model is the change users look for.
        for c in &mut self.out[before..] {
            if c.pointer.ends_with("/additionalProperties") {
                c.kind = match c.direction {
                    Direction::Narrowed => "additional_properties_narrowed",
                    Direction::Widened => "additional_properties_widened",
                    Direction::Changed => "additional_properties_changed",
                };
            }
        }
    }

    fn items(&mut self, o: &'a Map<String, Value>, n: &'a Map<String, Value>, at: &str) {
        match (o.get("items"), n.get("items")) {
            (None, None) => {}
            (a, b) if a.is_none_or(Value::is_object) || a.is_some_and(Value::is_boolean) => {
                let (a, b) = (a.unwrap_or(&TRUE), b.unwrap_or(&TRUE));
                if b.is_array() {
                    self.push(
                        &format!("{at}/items"),
                        "not_compared",
                        Direction::Changed,
                        "`items` became a list of schemas (a tuple): not compared".into(),
                    );
                } else {
                    self.compare(a, b, format!("{at}/items"));
                }
            }
            (a, b) => {
                if a != b {
                    self.push(
                        &format!("{at}/items"),
                        "not_compared",
                        Direction::Changed,
                        "`items` as a list of schemas (a tuple) differs: not compared".into(),
                    );
                }
            }
        }
    }

    /// Follows a local `$ref` (to `#/$defs/…` or `#/definitions/…`) in the version's own
    /// document; a schema without one is itself.
    fn resolve(&self, s: &'a Value, old: bool) -> Resolved<'a> {
        let root = if old { self.old_root } else { self.new_root };
        let mut at = s;
        let mut via = None;
        for _ in 0..32 {
            let Some(r) = at.get("$ref").and_then(Value::as_str) else {
                return Resolved::Schema(at, via);
            };
            let Some(pointer) = r.strip_prefix('#') else {
                return Resolved::Remote(r.to_string());
            };
            match root.pointer(pointer) {
                Some(target) => {
                    via = Some(r.to_string());
                    at = target;
                }
                None => return Resolved::Remote(r.to_string()),
            }
        }
        Resolved::Remote("(a cycle of references)".into())
    }
}

enum Resolved<'a> {
    Schema(&'a Value, Option<String>),
    Remote(String),
}

static TRUE: Value = Value::Bool(true);

/// The schema of property `name` in an object schema: its own, or `additionalProperties`.
fn effective<'a>(
    m: &'a Map<String, Value>,
    props: Option<&'a Map<String, Value>>,
    name: &str,
) -> &'a Value {
    props
        .and_then(|p| p.get(name))
        .or_else(|| m.get("additionalProperties"))
        .unwrap_or(&TRUE)
}

/// A schema that accepts everything (`{}`, or only annotations).
fn is_trivial(m: &Map<String, Value>) -> bool {
    m.keys().all(|k| {
        matches!(
            k.as_str(),
            "$schema"
                | "$id"
                | "$comment"
                | "title"
                | "description"
                | "examples"
                | "default"
                | "deprecated"
                | "readOnly"
                | "writeOnly"
                | "$defs"
                | "definitions"
        )
    })
}

fn type_set(t: Option<&Value>) -> BTreeSet<&str> {
    match t {
        Some(Value::String(s)) => [s.as_str()].into_iter().collect(),
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => TYPES.into_iter().collect(),
    }
}

/// Whether a set of types accepts every value of type `t`.
fn accepts(set: &BTreeSet<&str>, t: &str) -> bool {
    set.contains(t) || (t == "integer" && set.contains("number"))
}

fn truthy(v: Option<&Value>) -> bool {
    v == Some(&Value::Bool(true))
}

/// A name as a JSON pointer token (RFC 6901): `~` as `~0`, `/` as `~1`.
fn escape(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn modes_read_as_confluent_spells_them() {
        for m in Mode::ALL {
            assert_eq!(m.as_str().parse::<Mode>().unwrap(), m);
        }
        assert_eq!("backward".parse::<Mode>().unwrap(), Mode::Backward);
        assert!("SIDEWAYS".parse::<Mode>().is_err());
        assert_eq!(Mode::default(), Mode::Backward);
    }

    #[test]
    fn a_required_property_added_is_named_with_its_pointer() {
        let old = json!({"type": "object", "properties": {"a": {"type": "string"}}});
        let new =
            json!({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]});
        let e = check(Mode::Backward, std::slice::from_ref(&old), &new).unwrap_err();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].change.pointer, "/required");
        assert_eq!(e[0].change.kind, "required_added");
        assert_eq!(e[0].version, 1);
        assert!(check(Mode::Forward, &[old], &new).is_ok());
    }

    #[test]
    fn a_pointer_escapes_slashes_and_tildes() {
        let old = json!({"properties": {"a/b~c": {"type": "string"}}});
        let new = json!({"properties": {"a/b~c": {"type": "integer"}}});
        assert_eq!(diff(&old, &new)[0].pointer, "/properties/a~1b~0c/type");
    }

    #[test]
    fn transitive_modes_check_every_earlier_version() {
        // v1 requires nothing; v2 requires `a` (a FORWARD-compatible narrowing); v3 drops the
        // requirement again: compatible with v2 backward, and with v1 too.
        let v1 = json!({"type": "object", "properties": {"a": {"type": "string"}}});
        let v2 =
            json!({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]});
        let v3 = json!({"type": "object", "properties": {"a": {"type": "string", "maxLength": 5}}});
        // v3 narrows `a` (a maxLength) against both.
        assert!(check(Mode::Forward, &[v1.clone(), v2.clone()], &v3).is_err());
        // FORWARD against v2 only: v3 no longer requires `a` (widened) and caps it (narrowed).
        let e = check(Mode::ForwardTransitive, &[v1.clone(), v2.clone()], &v3).unwrap_err();
        assert_eq!(
            e.iter().map(|b| b.version).collect::<BTreeSet<_>>(),
            [2].into_iter().collect(),
            "against v1, v3 only narrows: FORWARD holds there"
        );
        let e = check(Mode::BackwardTransitive, &[v1, v2], &v3).unwrap_err();
        assert_eq!(
            e.iter().map(|b| b.version).collect::<BTreeSet<_>>(),
            [1, 2].into_iter().collect()
        );
    }
}
