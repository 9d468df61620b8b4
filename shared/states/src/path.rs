//! JSONPath as Step Functions reads it.
//!
//! A path starts at `$` (the input), `$$` (the context object) or `$name` (a workflow
//! variable). A path that names one node (only `.name`, `['name']` and `[n]` steps) yields that
//! node, and is an error when it is absent. A path with a wildcard, `..`, a slice, a union or a
//! filter always yields a list, empty when nothing matches; such paths are evaluated by
//! `serde_json_path` (RFC 9535), after their dot steps have been rewritten into bracket form so
//! that names Step Functions accepts after a dot (`$.a-b`) reach it intact.

use std::borrow::Cow;

use serde_json::{Map, Value};

/// Where a path starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Root {
    /// `$`: the input of the field being evaluated.
    Input,
    /// `$$`: the context object.
    Context,
    /// `$name`: a workflow variable.
    Var(String),
}

/// One step of a path that names one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(i64),
}

#[derive(Debug, Clone)]
enum Kind {
    Single(Vec<Step>),
    Query(serde_json_path::JsonPath),
}

/// A parsed path.
#[derive(Debug, Clone)]
pub struct Path {
    text: String,
    root: Root,
    kind: Kind,
    /// Ends in `.length()` (Jayway's function): the length of what the rest selects.
    length: bool,
}

/// What the evaluation of a path needs besides its input.
pub trait Roots {
    /// The context object, `$$`.
    fn context(&self) -> Value;
    /// The node of the context object at `steps`; a host can answer without building the
    /// whole object (whose `Execution.Input` may be large).
    fn context_at(&self, steps: &[Step]) -> Option<Value> {
        walk(&self.context(), steps).cloned()
    }
    /// A workflow variable, `$name`.
    fn var(&self, name: &str) -> Option<Value>;
}

/// Roots with an empty context and no variables.
pub struct NoRoots;

impl Roots for NoRoots {
    fn context(&self) -> Value {
        Value::Object(Map::new())
    }
    fn var(&self, _: &str) -> Option<Value> {
        None
    }
}

/// Why a path could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathError {
    /// The node the path names is not there.
    NotFound,
    /// The variable the path starts from was never assigned.
    UnknownVariable(String),
    /// A write through a node that is neither an object nor an array with that index.
    CannotWrite(String),
}

impl Path {
    /// Parses a path; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<Path, String> {
        let (root, rest) = if let Some(r) = text.strip_prefix("$$") {
            (Root::Context, r)
        } else if let Some(r) = text.strip_prefix('$') {
            let name_len = r.find(['.', '[']).unwrap_or(r.len());
            if name_len > 0 {
                (Root::Var(r[..name_len].to_string()), &r[name_len..])
            } else {
                (Root::Input, r)
            }
        } else {
            return Err(format!("`{text}` is not a path: a path starts with `$`"));
        };
        let (rest, length) = match rest.strip_suffix(".length()") {
            Some(r) => (r, true),
            None => (rest, false),
        };
        let tokens = tokens(rest).map_err(|why| format!("`{text}` is not a path: {why}"))?;
        let mut single = Vec::new();
        for t in &tokens {
            match t {
                Token::Name(n) => single.push(Step::Key(n.clone())),
                Token::Index(i) => single.push(Step::Index(*i)),
                _ => {
                    single.clear();
                    let mut rfc = String::from("$");
                    for t in &tokens {
                        t.write_rfc(&mut rfc);
                    }
                    let query = serde_json_path::JsonPath::parse(&rfc)
                        .map_err(|e| format!("`{text}` is not a path: {e}"))?;
                    return Ok(Path {
                        text: text.to_string(),
                        root,
                        kind: Kind::Query(query),
                        length,
                    });
                }
            }
        }
        Ok(Path {
            text: text.to_string(),
            root,
            kind: Kind::Single(single),
            length,
        })
    }

    /// The path as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The path in Jayway's normalized form, `$['a'][0]`, as its messages show it.
    pub fn normalized(&self) -> String {
        match &self.kind {
            Kind::Single(steps) => {
                let mut out = String::from("$");
                for s in steps {
                    match s {
                        Step::Key(k) => {
                            out.push_str("['");
                            out.push_str(k);
                            out.push_str("']");
                        }
                        Step::Index(i) => {
                            out.push('[');
                            out.push_str(&i.to_string());
                            out.push(']');
                        }
                    }
                }
                out
            }
            Kind::Query(_) => self.text.clone(),
        }
    }

    pub fn root(&self) -> &Root {
        &self.root
    }

    /// `$` alone: the whole input.
    pub fn is_identity(&self) -> bool {
        self.root == Root::Input
            && !self.length
            && matches!(&self.kind, Kind::Single(s) if s.is_empty())
    }

    /// The steps of a path that names one node, or `None` for a query.
    pub fn steps(&self) -> Option<&[Step]> {
        match &self.kind {
            Kind::Single(s) if !self.length => Some(s),
            _ => None,
        }
    }

    /// Reads the path: one node for a single-node path, a list for a query.
    pub fn get(&self, input: &Value, roots: &dyn Roots) -> Result<Value, PathError> {
        if self.length {
            let v = self.select(input, roots)?;
            return match v {
                Value::Array(a) => Ok(Value::from(a.len())),
                Value::Object(o) => Ok(Value::from(o.len())),
                Value::String(s) => Ok(Value::from(s.chars().count())),
                _ => Err(PathError::NotFound),
            };
        }
        self.select(input, roots)
    }

    fn select(&self, input: &Value, roots: &dyn Roots) -> Result<Value, PathError> {
        if let (Root::Context, Kind::Single(steps)) = (&self.root, &self.kind) {
            return roots.context_at(steps).ok_or(PathError::NotFound);
        }
        let owned;
        let base: &Value = match &self.root {
            Root::Input => input,
            Root::Context => {
                owned = roots.context();
                &owned
            }
            Root::Var(name) => {
                owned = roots
                    .var(name)
                    .ok_or_else(|| PathError::UnknownVariable(name.clone()))?;
                &owned
            }
        };
        match &self.kind {
            Kind::Single(steps) => walk(base, steps).cloned().ok_or(PathError::NotFound),
            Kind::Query(q) => Ok(Value::Array(
                q.query(base).all().into_iter().cloned().collect(),
            )),
        }
    }

    /// Reads the path from the input without copying when it names one node there.
    pub fn get_ref<'v>(
        &self,
        input: &'v Value,
        roots: &dyn Roots,
    ) -> Result<Cow<'v, Value>, PathError> {
        match (&self.root, &self.kind) {
            (Root::Input, Kind::Single(steps)) => walk(input, steps)
                .map(Cow::Borrowed)
                .ok_or(PathError::NotFound),
            _ => self.get(input, roots).map(Cow::Owned),
        }
    }

    /// Writes `value` into `target` at this path, making the objects on the way; only for a
    /// single-node path from `$` (a reference path).
    pub fn set(&self, target: &mut Value, value: Value) -> Result<(), PathError> {
        let (Kind::Single(steps), false) = (&self.kind, self.length) else {
            return Err(PathError::CannotWrite(format!(
                "`{}` selects many nodes",
                self.text
            )));
        };
        let Some((last, init)) = steps.split_last() else {
            *target = value;
            return Ok(());
        };
        let mut at = target;
        for step in init {
            at = match (step, at) {
                (Step::Key(k), Value::Object(m)) => m
                    .entry(k.clone())
                    .or_insert_with(|| Value::Object(Map::new())),
                (Step::Index(i), Value::Array(a)) => {
                    let n = index(*i, a.len()).ok_or_else(|| {
                        PathError::CannotWrite(format!("index {i} is outside the array"))
                    })?;
                    &mut a[n]
                }
                (step, other) => return Err(cannot_write(step, other)),
            };
        }
        match (last, at) {
            (Step::Key(k), Value::Object(m)) => {
                m.insert(k.clone(), value);
            }
            (Step::Index(i), Value::Array(a)) => {
                let n = index(*i, a.len()).ok_or_else(|| {
                    PathError::CannotWrite(format!("index {i} is outside the array"))
                })?;
                a[n] = value;
            }
            (step, other) => return Err(cannot_write(step, other)),
        }
        Ok(())
    }
}

fn cannot_write(step: &Step, at: &Value) -> PathError {
    let what = match at {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    PathError::CannotWrite(match step {
        Step::Key(k) => format!("field `{k}` cannot be set on {what}"),
        Step::Index(i) => format!("index {i} cannot be set on {what}"),
    })
}

fn index(i: i64, len: usize) -> Option<usize> {
    let n = if i < 0 { len as i64 + i } else { i };
    (0..len as i64).contains(&n).then_some(n as usize)
}

/// The node at `steps` below `at`.
pub fn walk<'v>(mut at: &'v Value, steps: &[Step]) -> Option<&'v Value> {
    for step in steps {
        at = match (step, at) {
            (Step::Key(k), Value::Object(m)) => m.get(k)?,
            (Step::Index(i), Value::Array(a)) => &a[index(*i, a.len())?],
            _ => return None,
        };
    }
    Some(at)
}

enum Token {
    Name(String),
    Index(i64),
    /// `.*` or `[*]`
    Wild,
    /// `..name`, `..*` or `..[…]`
    Descend(Box<Token>),
    /// Anything else in brackets, passed on as written: slices, unions, filters.
    Bracket(String),
}

impl Token {
    fn write_rfc(&self, out: &mut String) {
        match self {
            Token::Name(n) => {
                out.push_str("['");
                for c in n.chars() {
                    match c {
                        '\'' => out.push_str("\\'"),
                        '\\' => out.push_str("\\\\"),
                        c => out.push(c),
                    }
                }
                out.push_str("']");
            }
            Token::Index(i) => {
                out.push('[');
                out.push_str(&i.to_string());
                out.push(']');
            }
            Token::Wild => out.push_str("[*]"),
            Token::Descend(t) => {
                out.push_str("..");
                t.write_rfc(out);
            }
            Token::Bracket(b) => {
                out.push('[');
                out.push_str(b);
                out.push(']');
            }
        }
    }
}

/// Splits what follows the root into steps.
fn tokens(rest: &str) -> Result<Vec<Token>, String> {
    let b = rest.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        match b[i] {
            b'.' => {
                i += 1;
                let descend = b.get(i) == Some(&b'.');
                if descend {
                    i += 1;
                }
                let t = if b.get(i) == Some(&b'*') {
                    i += 1;
                    Token::Wild
                } else if descend && b.get(i) == Some(&b'[') {
                    let (t, next) = bracket(rest, i)?;
                    i = next;
                    t
                } else {
                    let start = i;
                    while i < b.len() && !matches!(b[i], b'.' | b'[') {
                        i += 1;
                    }
                    if i == start {
                        return Err("a `.` is followed by no name".into());
                    }
                    Token::Name(rest[start..i].to_string())
                };
                out.push(if descend {
                    Token::Descend(Box::new(t))
                } else {
                    t
                });
            }
            b'[' => {
                let (t, next) = bracket(rest, i)?;
                i = next;
                out.push(t);
            }
            _ => return Err("expected `.` or `[`".into()),
        }
    }
    Ok(out)
}

/// Reads the bracket at `i`; returns it and the position after its `]`.
fn bracket(rest: &str, i: usize) -> Result<(Token, usize), String> {
    let b = rest.as_bytes();
    // Find the closing bracket, skipping quoted strings and nested brackets.
    let mut depth = 0;
    let mut quote: Option<u8> = None;
    let mut j = i;
    let mut end = None;
    while j < b.len() {
        let c = b[j];
        match quote {
            Some(q) => {
                if c == b'\\' {
                    j += 1;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                b'\'' | b'"' => quote = Some(c),
                b'[' => depth += 1,
                b']' => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(j);
                        break;
                    }
                }
                _ => {}
            },
        }
        j += 1;
    }
    let end = end.ok_or("a `[` is never closed")?;
    let inner = rest[i + 1..end].trim();
    let token = if inner == "*" {
        Token::Wild
    } else if let Ok(n) = inner.parse::<i64>() {
        Token::Index(n)
    } else if let Some(name) = quoted(inner) {
        Token::Name(name)
    } else if inner.is_empty() {
        return Err("empty brackets".into());
    } else {
        Token::Bracket(inner.to_string())
    };
    Ok((token, end + 1))
}

/// `'name'` or `"name"` with backslash escapes, as one name. The escapes are those of a
/// JSON string (`\n`, `\t`, `\uXXXX`, …) and a backslash before any other character stands
/// for that character, so `['it\'s']` names `it's` and `['a\\b']` names `a\b`, as Step
/// Functions' JSONPath reads them.
pub(crate) fn quoted(inner: &str) -> Option<String> {
    let q = inner.chars().next()?;
    if !(q == '\'' || q == '"') || inner.len() < 2 || !inner.ends_with(q) {
        return None;
    }
    let body = &inner[1..inner.len() - 1];
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                'b' => out.push('\u{8}'),
                'f' => out.push('\u{c}'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                other => out.push(other),
            },
            c if c == q => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn get(p: &str, v: &Value) -> Result<Value, PathError> {
        Path::parse(p).unwrap().get(v, &NoRoots)
    }

    #[test]
    fn single_node_paths_yield_the_node_or_not_found() {
        let v = json!({"a": {"b-c": [1, 2, {"d": true}]}, "x y": 3});
        assert_eq!(get("$.a.b-c[2].d", &v), Ok(json!(true)));
        assert_eq!(get("$['x y']", &v), Ok(json!(3)));
        assert_eq!(get("$.a.b-c[-1]", &v), Ok(json!({"d": true})));
        assert_eq!(get("$.a.zz", &v), Err(PathError::NotFound));
        assert_eq!(get("$.a.b-c[7]", &v), Err(PathError::NotFound));
        assert_eq!(get("$", &v), Ok(v.clone()));
    }

    #[test]
    fn queries_always_yield_a_list() {
        let v = json!({"a": [{"p": 1}, {"p": 5}, {"q": 2}]});
        assert_eq!(get("$.a[*].p", &v), Ok(json!([1, 5])));
        assert_eq!(get("$..p", &v), Ok(json!([1, 5])));
        assert_eq!(get("$.a[?(@.p > 2)].p", &v), Ok(json!([5])));
        assert_eq!(get("$.a[0:1]", &v), Ok(json!([{"p": 1}])));
        assert_eq!(get("$.a[?(@.p > 9)]", &v), Ok(json!([])));
        assert_eq!(get("$.a.length()", &v), Ok(json!(3)));
        assert_eq!(get("$.a[*].p.length()", &v), Ok(json!(2)));
        assert_eq!(get("$.nothing[*]", &v), Ok(json!([])));
    }

    #[test]
    fn set_makes_objects_on_the_way_and_refuses_scalars() {
        let p = Path::parse("$.a.b").unwrap();
        let mut v = json!({"x": 1});
        p.set(&mut v, json!(2)).unwrap();
        assert_eq!(v, json!({"x": 1, "a": {"b": 2}}));
        let mut s = json!("text");
        assert!(matches!(
            p.set(&mut s, json!(2)),
            Err(PathError::CannotWrite(_))
        ));
    }

    #[test]
    fn roots_are_told_apart() {
        assert_eq!(
            Path::parse("$$.Execution.Id").unwrap().root(),
            &Root::Context
        );
        assert_eq!(
            Path::parse("$count.n").unwrap().root(),
            &Root::Var("count".into())
        );
        assert!(Path::parse("a.b").is_err());
        assert!(Path::parse("$.a[").is_err());
    }
}
