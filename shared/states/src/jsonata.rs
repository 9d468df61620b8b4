//! JSONata expressions, `{% … %}`, evaluated with the `jsonata-rs` crate.
//!
//! Step Functions binds `$states` (`input`, `result`, `errorOutput`, `context`) and the
//! workflow variables, and adds `$partition`, `$range`, `$hash`, `$random`, `$uuid` and `$parse`.
//! Time and randomness are the caller's: `$now()`, `$millis()`, `$random()` and `$uuid()` read
//! the execution's clock and random source, not the machine's.

use std::cell::Cell;
use std::collections::HashMap;

use bumpalo::Bump;
use jsonata_rs::{ArrayFlags, Error as AtaError, FunctionContext, JsonAta, Value as AtaValue};
use serde_json::{Map, Value};

use crate::error::{Failure, QUERY_EVALUATION_ERROR};
use crate::intrinsic::{splitmix, uuid_v4};
use crate::model::Ata;

/// What an expression can read besides `$states`.
pub trait Scope {
    fn var(&self, name: &str) -> Option<Value>;
    /// The context object; with `Execution.Input` only if `with_input`.
    fn context(&self, with_input: bool) -> Value;
    fn now_ms(&self) -> i64;
    fn random(&self) -> u64;
}

thread_local! {
    static NOW_MS: Cell<i64> = const { Cell::new(0) };
    static SEED: Cell<u64> = const { Cell::new(0) };
}

/// What `$states` holds for an evaluation: the state's input, the result or error output
/// where there is one, and the context object (from the scope).
#[derive(Clone, Copy)]
pub struct States<'a> {
    pub input: &'a Value,
    pub extra: Option<(&'a str, &'a Value)>,
}

impl States<'_> {
    /// `$states` with only the parts `expr` reads: the input of a Map may be large, and every
    /// part given is converted for every evaluation.
    fn value_for(&self, expr: &str, scope: &dyn Scope) -> Value {
        let whole = expr
            .match_indices("$states")
            .any(|(i, _)| !expr[i + 7..].starts_with('.'));
        let wants = |part: &str| whole || expr.contains(&format!("$states.{part}"));
        let mut m = Map::new();
        if wants("input") {
            m.insert("input".into(), self.input.clone());
        }
        if wants("context") {
            m.insert("context".into(), scope.context(expr.contains("Input")));
        }
        if let Some((k, v)) = self.extra {
            if wants(k) {
                m.insert(k.into(), v.clone());
            }
        }
        Value::Object(m)
    }
}

/// Evaluates a JSONata field: its static parts as they are, its expressions against `states`.
/// `at` names the field as Step Functions does in a cause: `Output`, `Assign/total`,
/// `Arguments/Input/pushLocation`, with `[i]` for an element of an array.
pub fn eval_field(
    field: &Ata,
    states: &States<'_>,
    scope: &dyn Scope,
    at: &str,
) -> Result<Value, Failure> {
    eval_at(field, states, scope, &|| at.to_string())
}

/// `eval_field` with the field's name made only when a cause needs it.
fn eval_at(
    field: &Ata,
    states: &States<'_>,
    scope: &dyn Scope,
    at: &dyn Fn() -> String,
) -> Result<Value, Failure> {
    match field {
        Ata::Static(v) => Ok(v.clone()),
        // Step Functions' words (a cause recorded from AWS): "The JSONata expression
        // '$states.input.pushLocation' specified for the field 'Arguments/Input/pushLocation'
        // returned nothing (undefined)."
        Ata::Expr(e) => match eval(e, states, scope) {
            Ok(Some(v)) => Ok(v),
            Ok(None) => {
                let at = at();
                Err(Failure::new(
                    QUERY_EVALUATION_ERROR,
                    format!(
                        "The JSONata expression '{e}' specified for the field '{at}' returned nothing (undefined)."
                    ),
                )
                .at(at))
            }
            Err(why) => {
                let at = at();
                Err(Failure::new(
                    QUERY_EVALUATION_ERROR,
                    format!(
                        "The JSONata expression '{e}' specified for the field '{at}' threw an error during evaluation. {why}"
                    ),
                )
                .at(at))
            }
        },
        // An expression that yields nothing fails, in a field of an object or an array too,
        // as in Step Functions (an `EvaluationFailed` event).
        Ata::Obj(fields) => {
            let mut m = Map::with_capacity(fields.len());
            for (k, f) in fields {
                m.insert(
                    k.clone(),
                    eval_at(f, states, scope, &|| format!("{}/{k}", at()))?,
                );
            }
            Ok(Value::Object(m))
        }
        Ata::Arr(items) => items
            .iter()
            .enumerate()
            .map(|(i, f)| eval_at(f, states, scope, &|| format!("{}[{i}]", at())))
            .collect::<Result<_, _>>()
            .map(Value::Array),
    }
}

/// The JSON type name JSONata's `$type` gives a value, as Step Functions quotes it when a
/// result has the wrong type.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Evaluates one expression; `None` when it yields nothing (JSONata's `undefined`). An error
/// is told as JSONata tells it, `code: message` (`D3030: Unable to cast value to a number:
/// "abc"`), without the crate's position.
pub fn eval(expr: &str, states: &States<'_>, scope: &dyn Scope) -> Result<Option<Value>, String> {
    // `jsonata-rs` is young: should it panic on some expression, the state fails with
    // `States.QueryEvaluationError` instead of the execution's thread going down.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        eval_inner(expr, states, scope)
    }))
    .unwrap_or_else(|_| Err("the expression could not be evaluated (the evaluator failed)".into()))
}

/// `D3030 @ 0: Unable to cast…` as JSONata's own library (jsonata-js, which Step Functions
/// runs) words it: `D3030: Unable to cast…`, without the position, with a function's name or
/// an operator in double quotes (`Argument 1 of function "range"`, `the "+" operator`).
fn told(e: &AtaError) -> String {
    let code = e.code();
    let text = e.to_string();
    let rest = text.strip_prefix(&format!("{code} @ ")).unwrap_or(&text);
    // The position is a character index before `: ` (or a space); some errors have none.
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let message = if digits > 0 {
        let after = &rest[digits..];
        after
            .strip_prefix(": ")
            .or_else(|| after.strip_prefix(' '))
            .unwrap_or(after)
    } else {
        rest
    };
    let mut message = message.replace('`', "\"");
    if let Some(token) = message.strip_prefix("Syntax error \"") {
        message = format!("Syntax error: \"{token}");
    }
    if let Some((head, tail)) = message.split_once("of function ") {
        if !tail.starts_with('"') {
            if let Some((name, after)) = tail.split_once(' ') {
                message = format!("{head}of function \"{name}\" {after}");
            }
        }
    }
    format!("{code}: {message}")
}

fn eval_inner(expr: &str, states: &States<'_>, scope: &dyn Scope) -> Result<Option<Value>, String> {
    let mut owned: Vec<(String, Value)> = vec![("states".into(), states.value_for(expr, scope))];
    let mut names = Vec::new();
    for name in variables(expr) {
        if name != "states" {
            if let Some(v) = scope.var(name) {
                owned.push((format!("helios_var_{name}"), v));
                names.push(name);
            }
        }
    }
    let source = rewrite(expr, &names);
    let arena = Bump::new();
    let ata = JsonAta::new(&source, &arena).map_err(|e| told(&e))?;
    ata.register_function("partition", 2, fn_partition);
    ata.register_function("range", 3, fn_range);
    ata.register_function("hash", 2, fn_hash);
    ata.register_function("parse", 1, fn_parse);
    ata.register_function("helios_now", 0, fn_now);
    ata.register_function("helios_millis", 0, fn_millis);
    ata.register_function("helios_random", 1, fn_random);
    ata.register_function("helios_uuid", 0, fn_uuid);
    let bindings: HashMap<&str, &Value> = owned.iter().map(|(k, v)| (k.as_str(), v)).collect();
    NOW_MS.with(|c| c.set(scope.now_ms()));
    SEED.with(|c| c.set(scope.random()));
    let result = ata.evaluate(None, Some(&bindings)).map_err(|e| told(&e))?;
    if result.is_undefined() {
        return Ok(None);
    }
    if result.is_function() {
        return Err("the expression yields a function, not a JSON value".into());
    }
    let text = result.serialize(false);
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| format!("its result is not JSON: {e}"))
}

/// Where the `$name` tokens of an expression are, outside string literals: the byte range of
/// each name, without its `$`.
fn dollar_names(expr: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let b = expr.as_bytes();
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i < b.len() {
        let c = b[i];
        match quote {
            Some(_) if c == b'\\' => i += 1,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == b'"' || c == b'\'' => quote = Some(c),
            None if c == b'$' => {
                let start = i + 1;
                let mut j = start;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                    j += 1;
                }
                out.push((start, j));
                i = j;
                continue;
            }
            None => {}
        }
        i += 1;
    }
    out
}

/// The names of the variables an expression mentions (`$name`), outside string literals.
fn variables(expr: &str) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for (start, end) in dollar_names(expr) {
        let name = &expr[start..end];
        if !name.is_empty() && !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

/// Rewrites an expression for `jsonata-rs`, outside string literals: calls to `$now`,
/// `$millis`, `$random` and `$uuid` go to functions that read the execution's clock and random
/// source, and the workflow variables in `vars` get names no built-in function has (the
/// crate binds its functions after the caller's bindings, so `$count` would be the function).
fn rewrite(expr: &str, vars: &[&str]) -> String {
    const CALLS: &[&str] = &["now", "millis", "random", "uuid"];
    let mut out = String::with_capacity(expr.len() + 16);
    let mut last = 0;
    for (start, end) in dollar_names(expr) {
        let name = &expr[start..end];
        let called = expr[end..].trim_start().starts_with('(');
        let prefix = if called && CALLS.contains(&name) {
            "helios_"
        } else if vars.contains(&name) {
            "helios_var_"
        } else {
            continue;
        };
        out.push_str(&expr[last..start]);
        out.push_str(prefix);
        last = start;
    }
    out.push_str(&expr[last..]);
    out
}

type Out<'a> = jsonata_rs::Result<&'a AtaValue<'a>>;

fn bad(name: &str, why: &str) -> AtaError {
    AtaError::D3137Error(format!("${name}: {why}"))
}

fn fn_partition<'a>(ctx: FunctionContext<'a, '_>, args: &[&'a AtaValue<'a>]) -> Out<'a> {
    let (Some(a), Some(n)) = (args.first(), args.get(1)) else {
        return Err(bad("partition", "takes an array and a size"));
    };
    if !n.is_integer() || n.as_f64() < 1.0 {
        return Err(bad("partition", "the size must be a positive integer"));
    }
    let size = n.as_usize();
    let items: Vec<&'a AtaValue<'a>> = if a.is_array() {
        a.members().collect()
    } else {
        vec![*a]
    };
    let out =
        AtaValue::array_with_capacity(ctx.arena, items.len().div_ceil(size), ArrayFlags::empty());
    for chunk in items.chunks(size) {
        let part = AtaValue::array_with_capacity(ctx.arena, chunk.len(), ArrayFlags::empty());
        for v in chunk {
            part.push(v);
        }
        out.push(part);
    }
    Ok(out)
}

fn fn_range<'a>(ctx: FunctionContext<'a, '_>, args: &[&'a AtaValue<'a>]) -> Out<'a> {
    let ints: Vec<Option<i64>> = (0..3)
        .map(|i| {
            args.get(i)
                .filter(|v| v.is_integer())
                .map(|v| v.as_f64() as i64)
        })
        .collect();
    // As JSONata's signature check words it: "Argument 1 of function "range" does not
    // match function signature" (T0410), for a missing, extra or non-integer argument.
    let (Some(start), Some(end), Some(step)) = (ints[0], ints[1], ints[2]) else {
        let i = ints.iter().position(Option::is_none).unwrap_or(0);
        return Err(AtaError::T0410ArgumentNotValid(0, i + 1, "range".into()));
    };
    if args.len() > 3 {
        return Err(AtaError::T0410ArgumentNotValid(0, 4, "range".into()));
    }
    if step == 0 {
        return Err(bad("range", "the step must not be 0"));
    }
    // A sequence, as JSONata's own functions answer: one element is that element, bare.
    let out = AtaValue::array(ctx.arena, ArrayFlags::SEQUENCE);
    let mut x = start;
    while (step > 0 && x <= end) || (step < 0 && x >= end) {
        if out.len() == 1000 {
            return Err(bad("range", "the range has more than 1000 elements"));
        }
        out.push(AtaValue::number(ctx.arena, x as f64));
        x += step;
    }
    Ok(out)
}

fn fn_hash<'a>(ctx: FunctionContext<'a, '_>, args: &[&'a AtaValue<'a>]) -> Out<'a> {
    let (Some(data), Some(alg)) = (args.first(), args.get(1)) else {
        return Err(bad("hash", "takes a value and an algorithm"));
    };
    let data = if data.is_string() {
        data.as_str().to_string()
    } else {
        data.serialize(false)
    };
    let Some(digest) = crate::intrinsic::hash_hex(&data, &alg.as_str()) else {
        return Err(bad(
            "hash",
            "the algorithm is MD5, SHA-1, SHA-256, SHA-384 or SHA-512",
        ));
    };
    Ok(AtaValue::string(ctx.arena, &digest))
}

fn fn_parse<'a>(ctx: FunctionContext<'a, '_>, args: &[&'a AtaValue<'a>]) -> Out<'a> {
    let Some(s) = args.first().filter(|v| v.is_string()) else {
        return Err(bad("parse", "takes a string"));
    };
    let v: Value = serde_json::from_str(&s.as_str())
        .map_err(|e| bad("parse", &format!("the string is not JSON: {e}")))?;
    Ok(to_ata(ctx.arena, &v))
}

fn to_ata<'a>(arena: &'a Bump, v: &Value) -> &'a AtaValue<'a> {
    match v {
        Value::Null => AtaValue::null(arena),
        Value::Bool(b) => AtaValue::bool(*b),
        Value::Number(n) => AtaValue::number(arena, n.as_f64().unwrap_or(0.0)),
        Value::String(s) => AtaValue::string(arena, s),
        Value::Array(a) => {
            let out = AtaValue::array_with_capacity(arena, a.len(), ArrayFlags::empty());
            for x in a {
                out.push(to_ata(arena, x));
            }
            out
        }
        Value::Object(m) => {
            let out = AtaValue::object_with_capacity(arena, m.len());
            for (k, x) in m {
                out.insert(k, to_ata(arena, x));
            }
            out
        }
    }
}

fn fn_now<'a>(ctx: FunctionContext<'a, '_>, _: &[&'a AtaValue<'a>]) -> Out<'a> {
    Ok(AtaValue::string(
        ctx.arena,
        &crate::clock::iso(NOW_MS.with(Cell::get)),
    ))
}

fn fn_millis<'a>(ctx: FunctionContext<'a, '_>, _: &[&'a AtaValue<'a>]) -> Out<'a> {
    Ok(AtaValue::number(ctx.arena, NOW_MS.with(Cell::get) as f64))
}

fn next_random() -> u64 {
    SEED.with(|c| {
        let r = splitmix(c.get());
        c.set(r);
        r
    })
}

fn fn_random<'a>(ctx: FunctionContext<'a, '_>, args: &[&'a AtaValue<'a>]) -> Out<'a> {
    let r = match args.first().filter(|v| v.is_number()) {
        Some(seed) => splitmix(seed.as_f64() as u64),
        None => next_random(),
    };
    Ok(AtaValue::number(
        ctx.arena,
        (r >> 11) as f64 / (1u64 << 53) as f64,
    ))
}

fn fn_uuid<'a>(ctx: FunctionContext<'a, '_>, _: &[&'a AtaValue<'a>]) -> Out<'a> {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&next_random().to_le_bytes());
    b[8..].copy_from_slice(&next_random().to_le_bytes());
    Ok(AtaValue::string(ctx.arena, &uuid_v4(b)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct S;
    impl Scope for S {
        fn var(&self, name: &str) -> Option<Value> {
            (name == "count").then(|| json!(41))
        }
        fn context(&self, _: bool) -> Value {
            json!({})
        }
        fn now_ms(&self) -> i64 {
            86_400_000
        }
        fn random(&self) -> u64 {
            1
        }
    }

    fn ev(e: &str) -> Option<Value> {
        let input = json!({"a": [1, 2, 3]});
        let states = States {
            input: &input,
            extra: None,
        };
        eval(e, &states, &S).unwrap()
    }

    #[test]
    fn states_and_variables_are_bound() {
        assert_eq!(ev("$sum($states.input.a) + $count"), Some(json!(47)));
        assert_eq!(ev("$states.input.missing"), None);
    }

    #[test]
    fn step_functions_functions() {
        assert_eq!(
            ev("$partition([1,2,3,4,5], 2)"),
            Some(json!([[1, 2], [3, 4], [5]]))
        );
        assert_eq!(ev("$range(0, 10, 5)"), Some(json!([0, 5, 10])));
        assert_eq!(ev("$parse('{\"x\": [true]}')"), Some(json!({"x": [true]})));
        assert_eq!(
            ev("$hash('input data', 'SHA-1')"),
            Some(json!("aaff4a450a104cd177d28d18d74485e8cae074b7"))
        );
        assert_eq!(ev("$now()"), Some(json!("1970-01-02T00:00:00.000Z")));
        assert_eq!(ev("$millis()"), Some(json!(86_400_000)));
        assert_eq!(ev("'$now()'"), Some(json!("$now()")));
    }

    #[test]
    fn errors_are_query_evaluation_errors() {
        let input = json!({});
        let states = States {
            input: &input,
            extra: None,
        };
        let e = eval("$partition([1], 0)", &states, &S).unwrap_err();
        assert!(e.starts_with("D3137: "), "{e}");
        let e = eval("1 +", &states, &S).unwrap_err();
        assert!(e.starts_with("S0"), "{e}");
        assert_eq!(
            eval("$number('abc')", &states, &S).unwrap_err(),
            "D3030: Unable to cast value to a number: \"abc\""
        );
        assert_eq!(
            eval("1 + 'a'", &states, &S).unwrap_err(),
            "T2002: The right side of the \"+\" operator must evaluate to a number"
        );
        assert_eq!(
            eval("$partition([1], 0)", &states, &S).unwrap_err(),
            "D3137: $partition: the size must be a positive integer"
        );
    }
}
