//! Event patterns, parsed and validated as Event Ruler's JSON rule compiler does.
//! <https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html>
//!
//! A pattern is expanded into sub-rules (`$or` multiplies them out): each sub-rule is a set of
//! fields, every one of which must match; a field matches when any of its matchers does.
//! Keys join into dotted paths, as in Event Ruler, so `{"a": {"b": [1]}}` and `{"a.b": [1]}`
//! are the same rule.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde_json::{Map, Value};

/// Why a pattern is not valid: where (a path into the pattern) and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", if at.is_empty() { String::new() } else { format!("at `{at}`: ") })]
pub struct PatternError {
    pub at: String,
    pub message: String,
}

fn err<T>(at: &str, message: impl Into<String>) -> Result<T, PatternError> {
    Err(PatternError {
        at: at.to_string(),
        message: message.into(),
    })
}

/// A parsed pattern: it matches an event when any of its sub-rules does.
#[derive(Clone, Debug, PartialEq)]
pub struct Pattern {
    pub sub_rules: Vec<SubRule>,
}

/// Fields that must all match.
#[derive(Clone, Debug, PartialEq)]
pub struct SubRule {
    /// Sorted by path.
    pub fields: Vec<Field>,
}

/// A dotted path and the matchers, any of which may match a value there.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    pub path: String,
    pub matchers: Vec<Matcher>,
}

impl Field {
    /// Whether the field also matches when the path holds no leaf at all (`exists: false`).
    pub fn allows_absence(&self) -> bool {
        self.matchers.contains(&Matcher::Exists(false))
    }
}

/// One way a leaf value may match.
#[derive(Clone, Debug, PartialEq)]
pub enum Matcher {
    ExactString(String),
    /// A string in the pattern that is an IP address matches that address however written.
    ExactIp(IpAddr),
    ExactNumber(f64),
    ExactBool(bool),
    ExactNull,
    Prefix(String),
    PrefixIgnoreCase(String),
    Suffix(String),
    SuffixIgnoreCase(String),
    EqualsIgnoreCase(String),
    Wildcard(Wildcard),
    AnythingBut(AnythingBut),
    Numeric(Range),
    Exists(bool),
    Cidr(Cidr),
}

/// What `anything-but` excludes.
#[derive(Clone, Debug, PartialEq)]
pub enum AnythingBut {
    Strings(Vec<String>),
    Numbers(Vec<f64>),
    Prefixes(Vec<String>),
    Suffixes(Vec<String>),
    /// Lowercased.
    IgnoreCase(Vec<String>),
    Wildcards(Vec<Wildcard>),
}

/// A numeric range; `None` is unbounded.
#[derive(Clone, Debug, PartialEq)]
pub struct Range {
    pub low: Option<(f64, bool)>,
    pub high: Option<(f64, bool)>,
}

impl Range {
    /// Whether `x` is in the range; the flag of each bound says whether it is included.
    pub fn contains(&self, x: f64) -> bool {
        let above = match self.low {
            None => true,
            Some((b, inclusive)) => x > b || (inclusive && x == b),
        };
        let below = match self.high {
            None => true,
            Some((t, inclusive)) => x < t || (inclusive && x == t),
        };
        above && below
    }
}

/// A `wildcard` value: literal text and `*`s that match any run of characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wildcard {
    pub pieces: Vec<WildcardPiece>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WildcardPiece {
    Literal(String),
    Star,
}

impl Wildcard {
    /// Parses a wildcard value: `*` is a wildcard, `\*` a literal star and `\\` a literal
    /// backslash; any other escape, a trailing backslash and consecutive wildcards are errors.
    pub fn parse(s: &str) -> Result<Wildcard, String> {
        let mut pieces = Vec::new();
        let mut lit = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(e @ ('*' | '\\')) => lit.push(e),
                    Some(other) => return Err(format!("invalid escape `\\{other}` in wildcard (only `\\*` and `\\\\` are allowed)")),
                    None => return Err("wildcard ends with a lone backslash".into()),
                },
                '*' => {
                    if lit.is_empty() && pieces.last() == Some(&WildcardPiece::Star) {
                        return Err("consecutive wildcard characters are not allowed".into());
                    }
                    if !lit.is_empty() {
                        pieces.push(WildcardPiece::Literal(std::mem::take(&mut lit)));
                    }
                    pieces.push(WildcardPiece::Star);
                }
                c => lit.push(c),
            }
        }
        if !lit.is_empty() {
            pieces.push(WildcardPiece::Literal(lit));
        }
        Ok(Wildcard { pieces })
    }

    /// Whether the whole of `s` matches.
    pub fn matches(&self, s: &str) -> bool {
        fn go(pieces: &[WildcardPiece], s: &str) -> bool {
            match pieces.split_first() {
                None => s.is_empty(),
                Some((WildcardPiece::Literal(l), rest)) => {
                    s.strip_prefix(l.as_str()).is_some_and(|r| go(rest, r))
                }
                Some((WildcardPiece::Star, rest)) => {
                    if rest.is_empty() {
                        return true;
                    }
                    s.char_indices()
                        .map(|(i, _)| i)
                        .chain(std::iter::once(s.len()))
                        .any(|i| go(rest, &s[i..]))
                }
            }
        }
        go(&self.pieces, s)
    }
}

/// An IPv4 or IPv6 network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cidr {
    pub network: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (addr, len) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}` is not a CIDR block (address/prefix length)"))?;
        let network: IpAddr =
            parse_ip(addr).ok_or_else(|| format!("`{addr}` is not an IP address"))?;
        // As Event Ruler: a block is wider than one address (IPv4 mask bits < 32, IPv6
        // < 128); a single address is matched by writing it as a plain value.
        let max = if network.is_ipv4() { 31 } else { 127 };
        let prefix: u8 = len
            .parse()
            .ok()
            .filter(|p| *p <= max)
            .ok_or_else(|| format!("`{len}` is not a prefix length from 0 to {max}"))?;
        Ok(Cidr { network, prefix })
    }

    pub fn contains(&self, ip: &IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(self.prefix))
                };
                (u32::from(n) & mask) == (u32::from(*a) & mask)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(self.prefix))
                };
                (u128::from(n) & mask) == (u128::from(*a) & mask)
            }
            _ => false,
        }
    }
}

/// Parses an IP address written the way Event Ruler recognises one in a pattern.
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    let looks_v4 = s.split('.').count() == 4
        && s.split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let looks_v6 = s.contains(':') && s.bytes().all(|b| b.is_ascii_hexdigit() || b == b':');
    if looks_v4 {
        // Octets are read as decimal, leading zeros and all, as Java reads them for Event
        // Ruler: `010.0.0.1` is 10.0.0.1 (not octal, and not refused as Rust would).
        let mut octets = [0u8; 4];
        for (o, part) in octets.iter_mut().zip(s.split('.')) {
            let digits = part.trim_start_matches('0');
            if digits.len() > 3 {
                return None;
            }
            *o = if digits.is_empty() {
                0
            } else {
                digits.parse().ok()?
            };
        }
        Some(IpAddr::from(octets))
    } else if looks_v6 {
        s.parse().ok()
    } else {
        None
    }
}

/// Names that are operators, so cannot be field names inside `$or`.
const RESERVED_IN_OR: [&str; 26] = [
    "exactly",
    "equals-ignore-case",
    "prefix",
    "suffix",
    "anything-but",
    "exists",
    "wildcard",
    "numeric",
    "cidr",
    "html",
    "=",
    "<",
    "<=",
    ">",
    ">=",
    "regex",
    "not-wildcard",
    "not-equals-ignore-case",
    "date-after",
    "date-on-or-after",
    "date-before",
    "date-on-or-before",
    "in-date-range",
    "ip-address-in-range",
    "ip-address-not-in-range",
    "$or",
];

/// The most sub-rules a pattern may expand into through `$or`.
pub const MAX_SUB_RULES: usize = 1024;

type Partial = BTreeMap<String, Vec<Matcher>>;

impl Pattern {
    /// Parses a pattern from JSON text.
    pub fn from_json(text: &str) -> Result<Pattern, PatternError> {
        let v: Value = serde_json::from_str(text).map_err(|e| PatternError {
            at: String::new(),
            message: format!("not valid JSON: {e}"),
        })?;
        Pattern::parse(&v)
    }

    /// Parses and validates a pattern.
    pub fn parse(v: &Value) -> Result<Pattern, PatternError> {
        let obj = match v {
            Value::Object(o) => o,
            _ => return err("", "a pattern must be a JSON object"),
        };
        let rules = parse_object(obj, "", "", vec![Partial::new()], false)?;
        Ok(Pattern {
            sub_rules: rules
                .into_iter()
                .map(|r| SubRule {
                    fields: r
                        .into_iter()
                        .map(|(path, matchers)| Field { path, matchers })
                        .collect(),
                })
                .collect(),
        })
    }
}

fn loc_key(loc: &str, key: &str) -> String {
    if loc.is_empty() {
        key.to_string()
    } else {
        format!("{loc}.{key}")
    }
}

fn parse_object(
    obj: &Map<String, Value>,
    path: &str,
    loc: &str,
    mut rules: Vec<Partial>,
    in_or: bool,
) -> Result<Vec<Partial>, PatternError> {
    if obj.is_empty() {
        return err(loc, "empty objects are not allowed");
    }
    for (key, value) in obj {
        let here = loc_key(loc, key);
        if key == "$or" {
            if let Value::Array(alternatives) = value {
                rules = parse_or(alternatives, path, &here, rules)?;
                continue;
            }
        }
        if in_or && RESERVED_IN_OR.contains(&key.as_str()) {
            return err(
                &here,
                format!("`{key}` is a reserved word and cannot be a field name inside `$or`"),
            );
        }
        let field = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        match value {
            Value::Object(inner) => rules = parse_object(inner, &field, &here, rules, in_or)?,
            Value::Array(items) => {
                let matchers = parse_values(items, &here)?;
                for r in &mut rules {
                    if r.contains_key(&field) {
                        return err(&here, format!("the path `{field}` appears more than once"));
                    }
                    r.insert(field.clone(), matchers.clone());
                }
            }
            other => {
                let hint = if RESERVED_IN_OR.contains(&key.as_str()) {
                    format!("; `{key}` is an operator and belongs inside the array of values, like [{{\"{key}\": …}}]")
                } else {
                    String::new()
                };
                return err(
                    &here,
                    format!(
                        "must be an object or an array of values, found {}{hint}",
                        kind(other)
                    ),
                );
            }
        }
    }
    Ok(rules)
}

fn parse_or(
    alternatives: &[Value],
    path: &str,
    loc: &str,
    rules: Vec<Partial>,
) -> Result<Vec<Partial>, PatternError> {
    if alternatives.len() < 2 {
        return err(loc, "`$or` needs an array of at least 2 objects");
    }
    let mut out = Vec::new();
    for (i, alt) in alternatives.iter().enumerate() {
        let here = format!("{loc}[{i}]");
        let obj = match alt {
            Value::Object(o) => o,
            other => {
                return err(
                    &here,
                    format!("only objects are allowed in `$or`, found {}", kind(other)),
                )
            }
        };
        out.extend(parse_object(obj, path, &here, rules.clone(), true)?);
        if out.len() > MAX_SUB_RULES {
            return err(
                loc,
                format!("`$or` expands this pattern into more than {MAX_SUB_RULES} alternatives"),
            );
        }
    }
    Ok(out)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn number(n: &serde_json::Number) -> f64 {
    n.as_f64().unwrap_or(f64::NAN)
}

/// Whether a number can be compared numerically. Since its 1.8 releases Event Ruler compares
/// numbers with the range and precision of a double (it encodes every finite double so that
/// byte order is numeric order, as Quamina does); before, it refused patterns beyond ±5e11 or
/// with more than six decimals and never matched such event numbers. Every finite number is
/// comparable; JSON has no other.
pub fn comparable(x: f64) -> bool {
    x.is_finite()
}

fn comparable_number(n: &serde_json::Number, loc: &str) -> Result<f64, PatternError> {
    let x = number(n);
    if comparable(x) {
        Ok(x)
    } else {
        err(loc, format!("{n} is not a finite number"))
    }
}

fn parse_values(items: &[Value], loc: &str) -> Result<Vec<Matcher>, PatternError> {
    if items.is_empty() {
        return err(loc, "empty arrays are not allowed: list at least one value");
    }
    items
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let here = format!("{loc}[{i}]");
            Ok(match v {
                Value::String(s) => match parse_ip(s) {
                    Some(ip) => Matcher::ExactIp(ip),
                    None => Matcher::ExactString(s.clone()),
                },
                Value::Number(n) => Matcher::ExactNumber(number(n)),
                Value::Bool(b) => Matcher::ExactBool(*b),
                Value::Null => Matcher::ExactNull,
                Value::Array(_) => return err(&here, "a value must be a string, number, true, false, null or an operator object, not an array"),
                Value::Object(o) => parse_operator(o, &here)?,
            })
        })
        .collect()
}

fn single<'a>(
    o: &'a Map<String, Value>,
    loc: &str,
    what: &str,
) -> Result<(&'a String, &'a Value), PatternError> {
    let mut it = o.iter();
    match (it.next(), it.next()) {
        (Some(kv), None) => Ok(kv),
        (None, _) => err(loc, format!("{what} has no operator")),
        _ => err(loc, format!("only one key is allowed in {what}")),
    }
}

fn string_of<'a>(v: &'a Value, loc: &str, op: &str) -> Result<&'a str, PatternError> {
    v.as_str().map_or_else(
        || {
            err(
                loc,
                format!("the value of `{op}` must be a string, found {}", kind(v)),
            )
        },
        Ok,
    )
}

fn parse_operator(o: &Map<String, Value>, loc: &str) -> Result<Matcher, PatternError> {
    let (op, arg) = single(o, loc, "a match expression")?;
    let here = format!("{loc}.{op}");
    Ok(match op.as_str() {
        "exactly" => Matcher::ExactString(string_of(arg, &here, op)?.to_string()),
        "prefix" | "suffix" => {
            let is_prefix = op == "prefix";
            match arg {
                Value::Object(inner) => {
                    let (iop, ival) = single(inner, &here, &format!("a `{op}` expression"))?;
                    if iop != "equals-ignore-case" {
                        return err(
                            &here,
                            format!(
                                "unsupported `{op}` operator `{iop}` (only equals-ignore-case)"
                            ),
                        );
                    }
                    let s = string_of(ival, &format!("{here}.{iop}"), iop)?.to_lowercase();
                    if is_prefix {
                        Matcher::PrefixIgnoreCase(s)
                    } else {
                        Matcher::SuffixIgnoreCase(s)
                    }
                }
                _ => {
                    let s = string_of(arg, &here, op)?.to_string();
                    if is_prefix {
                        Matcher::Prefix(s)
                    } else {
                        Matcher::Suffix(s)
                    }
                }
            }
        }
        "equals-ignore-case" => {
            Matcher::EqualsIgnoreCase(string_of(arg, &here, op)?.to_lowercase())
        }
        "wildcard" => Matcher::Wildcard(
            Wildcard::parse(string_of(arg, &here, op)?).or_else(|m| err(&here, m))?,
        ),
        "numeric" => Matcher::Numeric(parse_numeric(arg, &here)?),
        "exists" => match arg {
            Value::Bool(b) => Matcher::Exists(*b),
            other => {
                return err(
                    &here,
                    format!("`exists` must be true or false, found {}", kind(other)),
                )
            }
        },
        "cidr" => {
            Matcher::Cidr(Cidr::parse(string_of(arg, &here, op)?).or_else(|m| err(&here, m))?)
        }
        "anything-but" => Matcher::AnythingBut(parse_anything_but(arg, &here)?),
        other => return err(loc, format!("unknown operator `{other}`")),
    })
}

fn parse_numeric(arg: &Value, loc: &str) -> Result<Range, PatternError> {
    let items = match arg {
        Value::Array(a) => a,
        other => {
            return err(
                loc,
                format!(
                    "`numeric` takes an array like [\">\", 0, \"<=\", 5], found {}",
                    kind(other)
                ),
            )
        }
    };
    let op_at = |i: usize| -> Result<&str, PatternError> {
        match items.get(i) {
            Some(Value::String(s)) => Ok(s.as_str()),
            Some(other) => err(
                loc,
                format!(
                    "expected an operator at position {i}, found {}",
                    kind(other)
                ),
            ),
            None => err(loc, "the numeric expression is incomplete"),
        }
    };
    let num_at = |i: usize, op: &str| -> Result<f64, PatternError> {
        match items.get(i) {
            Some(Value::Number(n)) => comparable_number(n, loc),
            Some(other) => err(
                loc,
                format!(
                    "the value of `{op}` must be a number, found {}",
                    kind(other)
                ),
            ),
            None => err(loc, format!("`{op}` has no value")),
        }
    };
    let op = op_at(0)?;
    let first = num_at(1, op)?;
    let range = match op {
        "=" => Range {
            low: Some((first, true)),
            high: Some((first, true)),
        },
        "<" | "<=" => Range {
            low: None,
            high: Some((first, op == "<=")),
        },
        ">" | ">=" => {
            let low = Some((first, op == ">="));
            if items.len() == 2 {
                Range { low, high: None }
            } else {
                let top_op = op_at(2)?;
                if top_op != "<" && top_op != "<=" {
                    return err(loc, format!("a range goes from `>`/`>=` to `<`/`<=`; found `{top_op}` as its upper bound"));
                }
                let top = num_at(3, top_op)?;
                if first >= top {
                    return err(
                        loc,
                        format!("the range is backwards or empty: {first} is not below {top}"),
                    );
                }
                Range {
                    low,
                    high: Some((top, top_op == "<=")),
                }
            }
        }
        other => {
            return err(
                loc,
                format!("unknown numeric operator `{other}` (=, <, <=, >, >=)"),
            )
        }
    };
    let used = match (op, items.len()) {
        ("=" | "<" | "<=", _) => 2,
        (_, 2) => 2,
        _ => 4,
    };
    if items.len() > used {
        return err(loc, "too many elements in the numeric expression");
    }
    Ok(range)
}

fn parse_anything_but(arg: &Value, loc: &str) -> Result<AnythingBut, PatternError> {
    match arg {
        Value::String(s) => Ok(AnythingBut::Strings(vec![s.clone()])),
        Value::Number(n) => Ok(AnythingBut::Numbers(vec![comparable_number(n, loc)?])),
        Value::Array(items) => {
            let strings: Vec<String> = items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            let numbers: Vec<f64> = items
                .iter()
                .filter_map(|v| match v {
                    Value::Number(n) => Some(comparable_number(n, loc)),
                    _ => None,
                })
                .collect::<Result<_, _>>()?;
            if let Some(bad) = items.iter().find(|v| !v.is_string() && !v.is_number()) {
                return err(
                    loc,
                    format!("`anything-but` lists strings or numbers, not {}", kind(bad)),
                );
            }
            match (strings.is_empty(), numbers.is_empty()) {
                (false, true) => Ok(AnythingBut::Strings(strings)),
                (true, false) => Ok(AnythingBut::Numbers(numbers)),
                (true, true) => err(loc, "the `anything-but` list is empty"),
                (false, false) => err(
                    loc,
                    "an `anything-but` list must be all strings or all numbers, not mixed",
                ),
            }
        }
        Value::Object(o) => {
            let (op, value) = single(o, loc, "an `anything-but` expression")?;
            let here = format!("{loc}.{op}");
            let values: Vec<&Value> = match value {
                Value::Array(a) => a.iter().collect(),
                Value::String(_) => vec![value],
                other => {
                    return err(
                        &here,
                        format!(
                            "the value of `{op}` must be a string or a list of strings, found {}",
                            kind(other)
                        ),
                    )
                }
            };
            let mut strings = Vec::new();
            for v in values {
                let s = v.as_str().map_or_else(
                    || err(&here, format!("`{op}` takes strings, found {}", kind(v))),
                    Ok,
                )?;
                if (op == "prefix" || op == "suffix") && s.is_empty() {
                    return err(&here, format!("an empty {op} is not allowed"));
                }
                strings.push(s.to_string());
            }
            match op.as_str() {
                "prefix" => Ok(AnythingBut::Prefixes(strings)),
                "suffix" => Ok(AnythingBut::Suffixes(strings)),
                "equals-ignore-case" => Ok(AnythingBut::IgnoreCase(strings.iter().map(|s| s.to_lowercase()).collect())),
                "wildcard" => Ok(AnythingBut::Wildcards(
                    strings.iter().map(|s| Wildcard::parse(s).or_else(|m| err(&here, m))).collect::<Result<_, _>>()?,
                )),
                other => err(loc, format!("unsupported `anything-but` operator `{other}` (prefix, suffix, equals-ignore-case, wildcard)")),
            }
        }
        other => err(
            loc,
            format!(
                "`anything-but` takes a string, a number, a list or an operator object, not {}",
                kind(other)
            ),
        ),
    }
}
