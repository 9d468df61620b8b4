//! Templates in `actions`, `dedupe` and `explain`: text with `{{ path }}` placeholders filled
//! from the event and from what the engine adds (`window.value`, `rule.id`, `score`,
//! `severity`). A missing field renders as an empty string; several values (a path through
//! a list) render joined with `, `. A string that is a single placeholder and nothing else,
//! in action parameters, keeps the type of the value it names.

use serde_json::{Map, Value};

use crate::ruleset::Invalid;
use crate::scope::{found_value, FieldPath, Scope};

#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq)]
enum Part {
    Text(String),
    Field(FieldPath),
}

impl Template {
    pub fn parse(text: &str, at: &str, roots: &[&str]) -> Result<Template, Invalid> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let Some(close) = after.find("}}") else {
                return Err(Invalid {
                    at: at.to_string(),
                    message: format!(
                        "`{{{{` at character {} is never closed",
                        text.len() - rest.len() + open
                    ),
                });
            };
            let path = FieldPath::parse(&after[..close], roots).map_err(|message| Invalid {
                at: at.to_string(),
                message: format!("in a placeholder: {message}"),
            })?;
            parts.push(Part::Field(path));
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template { parts })
    }

    /// The field paths the template reads, in order.
    pub fn fields(&self) -> impl Iterator<Item = &FieldPath> {
        self.parts.iter().filter_map(|p| match p {
            Part::Field(f) => Some(f),
            Part::Text(_) => None,
        })
    }

    pub fn render(&self, scope: &Scope<'_>) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Field(f) => {
                    let values = scope.resolve(f);
                    for (i, v) in values.iter().enumerate() {
                        if i > 0 {
                            out.push_str(", ");
                        }
                        match v {
                            Value::String(s) => out.push_str(s),
                            other => out.push_str(&other.to_string()),
                        }
                    }
                }
            }
        }
        out
    }

    /// The value of a template that is one placeholder alone, with its type; otherwise the
    /// rendered text.
    pub fn render_value(&self, scope: &Scope<'_>) -> Value {
        match self.parts.as_slice() {
            [Part::Field(f)] => found_value(&scope.resolve(f)),
            _ => Value::String(self.render(scope)),
        }
    }
}

/// A JSON value whose strings are templates (action parameters).
#[derive(Clone, Debug, PartialEq)]
pub enum Templated {
    Text(Template),
    List(Vec<Templated>),
    Map(Vec<(String, Templated)>),
    Other(Value),
}

impl Templated {
    pub fn parse(v: &Value, at: &str, roots: &[&str]) -> Result<Templated, Invalid> {
        Ok(match v {
            Value::String(s) => Templated::Text(Template::parse(s, at, roots)?),
            Value::Array(items) => Templated::List(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, x)| Templated::parse(x, &format!("{at}[{i}]"), roots))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(m) => Templated::Map(
                m.iter()
                    .map(|(k, x)| {
                        Ok((k.clone(), Templated::parse(x, &format!("{at}.{k}"), roots)?))
                    })
                    .collect::<Result<_, Invalid>>()?,
            ),
            other => Templated::Other(other.clone()),
        })
    }

    pub fn render(&self, scope: &Scope<'_>) -> Value {
        match self {
            Templated::Text(t) => t.render_value(scope),
            Templated::List(items) => Value::Array(items.iter().map(|t| t.render(scope)).collect()),
            Templated::Map(entries) => {
                let mut m = Map::new();
                for (k, t) in entries {
                    m.insert(k.clone(), t.render(scope));
                }
                Value::Object(m)
            }
            Templated::Other(v) => v.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::{ENGINE_ROOTS, EVENT_ROOTS};
    use serde_json::json;

    fn roots() -> Vec<&'static str> {
        EVENT_ROOTS.iter().chain(ENGINE_ROOTS).copied().collect()
    }

    #[test]
    fn placeholders_are_filled_from_the_event_and_missing_ones_are_empty() {
        let e = json!({"subject": "acme/web", "data": {"n": 3, "tags": ["a", "b"]}});
        let t = Template::parse(
            "{{subject}}: {{ data.n }} [{{data.tags}}]{{data.gone}}",
            "x",
            &roots(),
        )
        .unwrap();
        assert_eq!(t.render(&Scope::event(&e)), "acme/web: 3 [a, b]");
    }

    #[test]
    fn a_lone_placeholder_in_parameters_keeps_its_type() {
        let e = json!({"data": {"n": 3, "o": {"k": true}}});
        let t = Templated::parse(
            &json!({"n": "{{data.n}}", "text": "n={{data.n}}", "o": "{{data.o}}", "k": 1}),
            "p",
            &roots(),
        )
        .unwrap();
        assert_eq!(
            t.render(&Scope::event(&e)),
            json!({"n": 3, "text": "n=3", "o": {"k": true}, "k": 1})
        );
    }

    #[test]
    fn bad_templates_say_where() {
        let e = Template::parse("a {{data.x", "rules[0].explain", &roots()).unwrap_err();
        assert_eq!(e.at, "rules[0].explain");
        assert!(e.message.contains("never closed"));
        let e = Templated::parse(&json!({"t": ["{{nope}}"]}), "p", &roots()).unwrap_err();
        assert_eq!(e.at, "p.t[0]");
    }
}
