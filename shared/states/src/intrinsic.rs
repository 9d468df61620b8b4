//! Intrinsic functions: `States.Format('{} items', $.n)` and the rest, parsed once and evaluated
//! against a state's input, the context object and the workflow variables.
//!
//! Misuse (a wrong argument type or count, a value out of range) fails with
//! `States.IntrinsicFailure` and a cause that names the function, as Step Functions does.

use base64::Engine as _;
use serde_json::{Map, Number, Value};
use sha2::Digest as _;

use crate::error::{quote, Failure};
use crate::path::{Path, PathError, Roots};

/// A parsed call.
#[derive(Debug, Clone)]
pub struct Call {
    name: Name,
    args: Vec<Arg>,
    text: String,
}

#[derive(Debug, Clone)]
enum Arg {
    Literal(Value),
    Path(Path),
    Call(Call),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Name {
    Format,
    StringToJson,
    JsonToString,
    Array,
    ArrayPartition,
    ArrayContains,
    ArrayRange,
    ArrayGetItem,
    ArrayLength,
    ArrayUnique,
    Base64Encode,
    Base64Decode,
    Hash,
    JsonMerge,
    MathRandom,
    MathAdd,
    StringSplit,
    Uuid,
}

const NAMES: &[(&str, Name)] = &[
    ("States.Format", Name::Format),
    ("States.StringToJson", Name::StringToJson),
    ("States.JsonToString", Name::JsonToString),
    ("States.Array", Name::Array),
    ("States.ArrayPartition", Name::ArrayPartition),
    ("States.ArrayContains", Name::ArrayContains),
    ("States.ArrayRange", Name::ArrayRange),
    ("States.ArrayGetItem", Name::ArrayGetItem),
    ("States.ArrayLength", Name::ArrayLength),
    ("States.ArrayUnique", Name::ArrayUnique),
    ("States.Base64Encode", Name::Base64Encode),
    ("States.Base64Decode", Name::Base64Decode),
    ("States.Hash", Name::Hash),
    ("States.JsonMerge", Name::JsonMerge),
    ("States.MathRandom", Name::MathRandom),
    ("States.MathAdd", Name::MathAdd),
    ("States.StringSplit", Name::StringSplit),
    ("States.UUID", Name::Uuid),
];

/// The names of every intrinsic function.
pub fn names() -> impl Iterator<Item = &'static str> {
    NAMES.iter().map(|(n, _)| *n)
}

/// A source of random numbers, owned by the caller like the clock.
pub trait Random {
    fn next_u64(&self) -> u64;
}

/// Whether a string is written as an intrinsic function call.
pub fn is_call(s: &str) -> bool {
    s.starts_with("States.")
}

impl Call {
    /// The call as the definition wrote it.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Parses `States.Name(arg, …)`.
    pub fn parse(text: &str) -> Result<Call, String> {
        let mut p = Parser { s: text, i: 0 };
        let call = p
            .call()
            .map_err(|why| format!("`{text}` is not an intrinsic function call: {why}"))?;
        p.space();
        if p.i != text.len() {
            return Err(format!(
                "`{text}` is not an intrinsic function call: text after its closing `)`"
            ));
        }
        Ok(call)
    }

    /// Evaluates the call.
    pub fn eval(
        &self,
        input: &Value,
        roots: &dyn Roots,
        random: &dyn Random,
    ) -> Result<Value, Failure> {
        let mut args = Vec::with_capacity(self.args.len());
        for a in &self.args {
            args.push(match a {
                Arg::Literal(v) => v.clone(),
                Arg::Path(p) => p.get(input, roots).map_err(|e| match e {
                    PathError::UnknownVariable(v) => Failure::runtime(format!(
                        "The variable `${v}` in `{}` was never assigned",
                        self.text
                    )),
                    _ => Failure::runtime(format!(
                        "The JSONPath '{}' specified in '{}' could not be found in the input '{}'",
                        p.text(),
                        self.text,
                        quote(input)
                    )),
                })?,
                Arg::Call(c) => c.eval(input, roots, random)?,
            });
        }
        apply(self.name, &self.text, args, random)
    }
}

struct Parser<'a> {
    s: &'a str,
    i: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.s[self.i..]
    }

    fn space(&mut self) {
        while self.rest().starts_with([' ', '\t', '\n', '\r']) {
            self.i += 1;
        }
    }

    fn call(&mut self) -> Result<Call, String> {
        let start = self.i;
        let open = self.rest().find('(').ok_or("no `(`")?;
        let fname = self.rest()[..open].trim();
        let name = NAMES
            .iter()
            .find(|(n, _)| *n == fname)
            .map(|(_, k)| *k)
            .ok_or_else(|| format!("`{fname}` is not an intrinsic function"))?;
        self.i += open + 1;
        let mut args = Vec::new();
        self.space();
        if self.rest().starts_with(')') {
            self.i += 1;
        } else {
            loop {
                self.space();
                args.push(self.arg()?);
                self.space();
                if self.rest().starts_with(',') {
                    self.i += 1;
                } else if self.rest().starts_with(')') {
                    self.i += 1;
                    break;
                } else {
                    return Err("expected `,` or `)` after an argument".into());
                }
            }
        }
        Ok(Call {
            name,
            args,
            text: self.s[start..self.i].to_string(),
        })
    }

    fn arg(&mut self) -> Result<Arg, String> {
        let r = self.rest();
        if r.starts_with('\'') {
            return self.string().map(|s| Arg::Literal(Value::String(s)));
        }
        if r.starts_with("States.") {
            return self.call().map(Arg::Call);
        }
        let end = self.token_end();
        let tok = &self.s[self.i..end];
        let arg = if tok.starts_with('$') {
            Arg::Path(Path::parse(tok)?)
        } else if tok == "true" || tok == "false" {
            Arg::Literal(Value::Bool(tok == "true"))
        } else if tok == "null" {
            Arg::Literal(Value::Null)
        } else if let Ok(n) = serde_json::from_str::<Number>(tok) {
            Arg::Literal(Value::Number(n))
        } else {
            return Err(format!(
                "`{tok}` is not a string, number, boolean, null, path or call"
            ));
        };
        self.i = end;
        Ok(arg)
    }

    /// The end of a bare argument: the next `,` or `)` outside brackets and quotes.
    fn token_end(&self) -> usize {
        let b = self.s.as_bytes();
        let mut depth = 0;
        let mut quote = false;
        let mut j = self.i;
        while j < b.len() {
            match b[j] {
                b'\\' if quote => j += 1,
                b'\'' => quote = !quote,
                b'[' | b'(' if !quote => depth += 1,
                b']' if !quote => depth -= 1,
                b')' if !quote && depth > 0 => depth -= 1,
                b',' | b')' if !quote && depth == 0 => break,
                _ => {}
            }
            j += 1;
        }
        let mut end = j.min(b.len());
        while end > self.i && b[end - 1].is_ascii_whitespace() {
            end -= 1;
        }
        end
    }

    /// A single-quoted string; `\'`, `\{`, `\}` and `\\` are escapes. Braces stay escaped
    /// (with their backslash) so that `States.Format` can tell them from placeholders.
    fn string(&mut self) -> Result<String, String> {
        let mut out = String::new();
        let mut chars = self.rest().char_indices().skip(1);
        while let Some((k, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, e @ ('{' | '}'))) => {
                        out.push('\\');
                        out.push(e);
                    }
                    Some((_, e)) => out.push(e),
                    None => break,
                },
                '\'' => {
                    self.i += k + 1;
                    return Ok(out);
                }
                c => out.push(c),
            }
        }
        Err("a string is never closed".into())
    }
}

/// Removes the backslash of `\{` and `\}` in a string argument used as plain text.
fn plain(s: &str) -> String {
    s.replace("\\{", "{").replace("\\}", "}")
}

fn fail(text: &str, why: impl std::fmt::Display) -> Failure {
    Failure::intrinsic(format!("Invalid arguments in {text}: {why}"))
}

fn arity(text: &str, args: &[Value], n: std::ops::RangeInclusive<usize>) -> Result<(), Failure> {
    if n.contains(&args.len()) {
        Ok(())
    } else if n.start() == n.end() {
        Err(fail(
            text,
            format!("it takes {} arguments, not {}", n.start(), args.len()),
        ))
    } else {
        Err(fail(
            text,
            format!(
                "it takes {} to {} arguments, not {}",
                n.start(),
                n.end(),
                args.len()
            ),
        ))
    }
}

fn string<'v>(text: &str, v: &'v Value, what: &str) -> Result<&'v str, Failure> {
    v.as_str()
        .ok_or_else(|| fail(text, format!("{what} must be a string, not {}", quote(v))))
}

fn array<'v>(text: &str, v: &'v Value, what: &str) -> Result<&'v Vec<Value>, Failure> {
    v.as_array()
        .ok_or_else(|| fail(text, format!("{what} must be an array, not {}", quote(v))))
}

fn integer(text: &str, v: &Value, what: &str) -> Result<i64, Failure> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9e15)
                .map(|f| f as i64)
        }),
        _ => None,
    }
    .ok_or_else(|| fail(text, format!("{what} must be an integer, not {}", quote(v))))
}

/// A number rounded as Java's `Math.round` rounds it (half up: -1.5 is -1), as Step Functions
/// reads the arguments of `States.MathAdd` and `States.MathRandom`.
fn rounded(text: &str, v: &Value, what: &str) -> Result<i64, Failure> {
    match v.as_f64() {
        Some(f) if f.is_finite() && f.abs() < 9e15 => Ok((f + 0.5).floor() as i64),
        _ => Err(fail(
            text,
            format!("{what} must be a number, not {}", quote(v)),
        )),
    }
}

const MAX_STRING: usize = 10_000;

fn apply(name: Name, text: &str, args: Vec<Value>, random: &dyn Random) -> Result<Value, Failure> {
    match name {
        Name::Format => {
            let Some(template) = args.first() else {
                return Err(fail(text, "it takes a format string"));
            };
            let template = string(text, template, "the format")?;
            let mut out = String::new();
            let mut next = 1;
            let mut chars = template.chars().peekable();
            while let Some(c) = chars.next() {
                match c {
                    '\\' if matches!(chars.peek(), Some('{' | '}')) => {
                        out.extend(chars.next());
                    }
                    '{' if chars.peek() == Some(&'}') => {
                        chars.next();
                        let v = args.get(next).ok_or_else(|| {
                            fail(text, "the format has more `{}` than there are arguments")
                        })?;
                        match v {
                            Value::String(s) => out.push_str(&plain(s)),
                            other => formatted(other, &mut out),
                        }
                        next += 1;
                    }
                    c => out.push(c),
                }
            }
            if next != args.len() {
                return Err(fail(
                    text,
                    "there are more arguments than `{}` in the format",
                ));
            }
            Ok(Value::String(out))
        }
        Name::StringToJson => {
            arity(text, &args, 1..=1)?;
            let s = plain(string(text, &args[0], "the argument")?);
            // An empty (or blank) string is null, as in Step Functions.
            if s.trim().is_empty() {
                return Ok(Value::Null);
            }
            serde_json::from_str(&s).map_err(|e| fail(text, format!("the string is not JSON: {e}")))
        }
        Name::JsonToString => {
            arity(text, &args, 1..=1)?;
            Ok(Value::String(quote(&args[0])))
        }
        Name::Array => Ok(Value::Array(
            args.into_iter()
                .map(|v| match v {
                    Value::String(s) => Value::String(plain(&s)),
                    v => v,
                })
                .collect(),
        )),
        Name::ArrayPartition => {
            arity(text, &args, 2..=2)?;
            let a = array(text, &args[0], "the first argument")?;
            let size = integer(text, &args[1], "the chunk size")?;
            if size <= 0 {
                return Err(fail(text, "the chunk size must be a positive integer"));
            }
            Ok(Value::Array(
                a.chunks(size as usize)
                    .map(|c| Value::Array(c.to_vec()))
                    .collect(),
            ))
        }
        Name::ArrayContains => {
            arity(text, &args, 2..=2)?;
            let a = array(text, &args[0], "the first argument")?;
            Ok(Value::Bool(a.iter().any(|x| json_eq(x, &args[1]))))
        }
        Name::ArrayRange => {
            arity(text, &args, 3..=3)?;
            let start = integer(text, &args[0], "the start")?;
            let end = integer(text, &args[1], "the end")?;
            let step = integer(text, &args[2], "the step")?;
            if step == 0 {
                return Err(fail(text, "the step must not be 0"));
            }
            let mut out = Vec::new();
            let mut x = start;
            while (step > 0 && x <= end) || (step < 0 && x >= end) {
                if out.len() == 1000 {
                    return Err(fail(text, "the range has more than 1000 elements"));
                }
                out.push(Value::from(x));
                x += step;
            }
            Ok(Value::Array(out))
        }
        Name::ArrayGetItem => {
            arity(text, &args, 2..=2)?;
            let a = array(text, &args[0], "the first argument")?;
            let i = integer(text, &args[1], "the index")?;
            usize::try_from(i)
                .ok()
                .and_then(|i| a.get(i))
                .cloned()
                .ok_or_else(|| {
                    fail(
                        text,
                        format!("index {i} is outside the array of {}", a.len()),
                    )
                })
        }
        Name::ArrayLength => {
            arity(text, &args, 1..=1)?;
            Ok(Value::from(array(text, &args[0], "the argument")?.len()))
        }
        Name::ArrayUnique => {
            arity(text, &args, 1..=1)?;
            let a = array(text, &args[0], "the argument")?;
            let mut out: Vec<Value> = Vec::new();
            for x in a {
                if !out.iter().any(|y| json_eq(x, y)) {
                    out.push(x.clone());
                }
            }
            Ok(Value::Array(out))
        }
        Name::Base64Encode => {
            arity(text, &args, 1..=1)?;
            let s = plain(string(text, &args[0], "the argument")?);
            if s.chars().count() > MAX_STRING {
                return Err(fail(text, "the string is longer than 10000 characters"));
            }
            Ok(Value::String(
                base64::engine::general_purpose::STANDARD.encode(s),
            ))
        }
        Name::Base64Decode => {
            arity(text, &args, 1..=1)?;
            let s = string(text, &args[0], "the argument")?;
            if s.chars().count() > MAX_STRING {
                return Err(fail(text, "the string is longer than 10000 characters"));
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|e| fail(text, format!("the string is not base64: {e}")))?;
            String::from_utf8(bytes)
                .map(Value::String)
                .map_err(|_| fail(text, "the decoded bytes are not UTF-8"))
        }
        Name::Hash => {
            arity(text, &args, 2..=2)?;
            let data = match &args[0] {
                Value::String(s) => plain(s),
                other => quote(other),
            };
            if data.chars().count() > MAX_STRING {
                return Err(fail(text, "the data is longer than 10000 characters"));
            }
            let alg = string(text, &args[1], "the algorithm")?;
            let Some(digest) = hash_hex(&data, alg) else {
                return Err(fail(
                    text,
                    format!("`{alg}` is not MD5, SHA-1, SHA-256, SHA-384 or SHA-512"),
                ));
            };
            Ok(Value::String(digest))
        }
        Name::JsonMerge => {
            arity(text, &args, 3..=3)?;
            let (Value::Object(a), Value::Object(b)) = (&args[0], &args[1]) else {
                return Err(fail(text, "the first two arguments must be objects"));
            };
            match &args[2] {
                Value::Bool(false) => {}
                Value::Bool(true) => {
                    return Err(fail(
                        text,
                        "deep merge (true) is not supported; the third argument must be false",
                    ))
                }
                _ => return Err(fail(text, "the third argument must be the boolean false")),
            }
            let mut out: Map<String, Value> = a.clone();
            for (k, v) in b {
                out.insert(k.clone(), v.clone());
            }
            Ok(Value::Object(out))
        }
        Name::MathRandom => {
            arity(text, &args, 2..=3)?;
            let start = rounded(text, &args[0], "the start")?;
            let end = rounded(text, &args[1], "the end")?;
            if end <= start {
                return Err(fail(text, "the end must be greater than the start"));
            }
            let r = match args.get(2) {
                Some(seed) => splitmix(integer(text, seed, "the seed")? as u64),
                None => random.next_u64(),
            };
            let span = (end - start) as u64;
            Ok(Value::from(start + (r % span) as i64))
        }
        Name::MathAdd => {
            arity(text, &args, 2..=2)?;
            let a = rounded(text, &args[0], "the first argument")?;
            let b = rounded(text, &args[1], "the second argument")?;
            let range = -(1i64 << 31)..(1i64 << 31);
            if !range.contains(&a) || !range.contains(&b) {
                return Err(fail(
                    text,
                    "the arguments must lie between -2147483648 and 2147483647",
                ));
            }
            Ok(Value::from(a + b))
        }
        Name::StringSplit => {
            arity(text, &args, 2..=2)?;
            let s = plain(string(text, &args[0], "the string")?);
            let d = plain(string(text, &args[1], "the delimiters")?);
            Ok(Value::Array(
                s.split(|c| d.contains(c))
                    .filter(|x| !x.is_empty())
                    .map(|x| Value::String(x.to_string()))
                    .collect(),
            ))
        }
        Name::Uuid => {
            arity(text, &args, 0..=0)?;
            let mut bytes = [0u8; 16];
            bytes[..8].copy_from_slice(&random.next_u64().to_le_bytes());
            bytes[8..].copy_from_slice(&random.next_u64().to_le_bytes());
            Ok(Value::String(uuid_v4(bytes)))
        }
    }
}

/// The hex digest of `data` by `alg` (`MD5`, `SHA-1`, `SHA-256`, `SHA-384`, `SHA-512`), as
/// `States.Hash` and JSONata's `$hash` compute it.
pub fn hash_hex(data: &str, alg: &str) -> Option<String> {
    let b = data.as_bytes();
    Some(match alg {
        "MD5" => hex(&md5::Md5::digest(b)),
        "SHA-1" => hex(&sha1::Sha1::digest(b)),
        "SHA-256" => hex(&sha2::Sha256::digest(b)),
        "SHA-384" => hex(&sha2::Sha384::digest(b)),
        "SHA-512" => hex(&sha2::Sha512::digest(b)),
        _ => return None,
    })
}

/// A version 4 UUID from 16 random bytes.
pub fn uuid_v4(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// A well-mixed number from a seed.
pub fn splitmix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// JSON equality with numbers compared by value (`1` equals `1.0`).
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// A value in `States.Format` as Step Functions renders it: a string as it is, a number,
/// boolean or null as JSON, an array as `[a, b]` and an object as `{key=value, other=[]}`,
/// the way Java prints its lists and maps (so `{"Arg1": 1, "Arg2": []}` is `{Arg1=1, Arg2=[]}`).
fn formatted(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => out.push_str(s),
        Value::Array(items) => {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                formatted(x, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(k);
                out.push('=');
                formatted(x, out);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::NoRoots;
    use serde_json::json;

    struct Fixed;
    impl Random for Fixed {
        fn next_u64(&self) -> u64 {
            7
        }
    }

    fn eval(call: &str, input: Value) -> Result<Value, Failure> {
        Call::parse(call).unwrap().eval(&input, &NoRoots, &Fixed)
    }

    #[test]
    fn the_documented_examples() {
        let v = json!({"name": "Arnav", "inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9], "size": 4});
        assert_eq!(
            eval("States.Format('Hello, my name is {}.', $.name)", v.clone()),
            Ok(json!("Hello, my name is Arnav."))
        );
        assert_eq!(
            eval("States.ArrayPartition($.inputArray, $.size)", v.clone()),
            Ok(json!([[1, 2, 3, 4], [5, 6, 7, 8], [9]]))
        );
        assert_eq!(
            eval("States.ArrayRange(1, 9, 2)", v.clone()),
            Ok(json!([1, 3, 5, 7, 9]))
        );
        assert_eq!(
            eval("States.ArrayLength($.inputArray)", v.clone()),
            Ok(json!(9))
        );
        assert_eq!(
            eval(
                "States.ArrayUnique(States.Array(1, 2, 3, 3, 3, 3, 3, 3, 4))",
                v.clone()
            ),
            Ok(json!([1, 2, 3, 4]))
        );
        assert_eq!(
            eval("States.Base64Encode('Data to encode')", v.clone()),
            Ok(json!("RGF0YSB0byBlbmNvZGU="))
        );
        assert_eq!(
            eval("States.Base64Decode('RGVjb2RlZCBkYXRh')", v.clone()),
            Ok(json!("Decoded data"))
        );
        assert_eq!(
            eval("States.Hash('input data', 'SHA-1')", v.clone()),
            Ok(json!("aaff4a450a104cd177d28d18d74485e8cae074b7"))
        );
        assert_eq!(eval("States.MathAdd(111, -1)", v.clone()), Ok(json!(110)));
        // Rounded as Step Functions rounds them (recorded against AWS by LocalStack's tests).
        assert_eq!(eval("States.MathAdd(1.49, 1.5)", v.clone()), Ok(json!(3)));
        assert_eq!(
            eval("States.MathAdd(-1.49, -1.5)", v.clone()),
            Ok(json!(-2))
        );
        assert_eq!(
            eval("States.MathAdd(-1.5, -1.51)", v.clone()),
            Ok(json!(-3))
        );
        assert_eq!(
            eval(
                "States.StringSplit('This.is+a,test=string', '.+,=')",
                v.clone()
            ),
            Ok(json!(["This", "is", "a", "test", "string"]))
        );
        assert_eq!(
            eval("States.JsonMerge(States.StringToJson('{\"a\": 1, \"b\": 2}'), States.StringToJson('{\"b\": 3}'), false)", v.clone()),
            Ok(json!({"a": 1, "b": 3}))
        );
        assert_eq!(
            eval("States.Format('\\{\\} {}', 'x')", v),
            Ok(json!("{} x"))
        );
    }

    #[test]
    fn misuse_is_an_intrinsic_failure() {
        for call in [
            "States.Format('{} and {}', 'one')",
            "States.ArrayGetItem(States.Array(1), 5)",
            "States.ArrayRange(1, 5000, 1)",
            "States.Hash('x', 'SHA-3')",
            "States.JsonMerge(States.Array(1), States.Array(2), false)",
            "States.MathAdd('1', 1)",
            "States.StringToJson('{not json')",
        ] {
            let e = eval(call, json!({})).unwrap_err();
            assert_eq!(e.error, crate::error::INTRINSIC_FAILURE, "{call}");
        }
    }

    #[test]
    fn math_random_with_a_seed_repeats_and_stays_in_range() {
        let a = eval("States.MathRandom(1, 999, 1234)", json!({})).unwrap();
        assert_eq!(
            a,
            eval("States.MathRandom(1, 999, 1234)", json!({})).unwrap()
        );
        let n = a.as_i64().unwrap();
        assert!((1..999).contains(&n));
    }
}
