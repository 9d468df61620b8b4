//! Discovery (issue 17): a JSON Schema inferred from sample documents, as EventBridge's
//! schema discovery does from the events it sees. Types are merged across the samples (an
//! integer and a fraction make `number`); a property is required only when every object
//! sample had it; a string is given a `format` (`date-time`, `uri`, `email`) only when every
//! string seen there has it; array items are inferred from every element of every sample.
//! The content model stays open, so that a new property in a later event is a drift to
//! report, not a refusal.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

/// The schema of `samples` (draft 2020-12). With no sample, `{}`: anything.
pub fn infer(samples: &[Value]) -> Value {
    let mut shape = Shape::default();
    for s in samples {
        shape.add(s);
    }
    let mut out = Map::new();
    out.insert(
        "$schema".into(),
        json!("https://json-schema.org/draft/2020-12/schema"),
    );
    if let Value::Object(m) = shape.schema() {
        out.extend(m);
    }
    Value::Object(out)
}

/// What has been seen at one place of the samples.
#[derive(Default)]
struct Shape {
    seen: bool,
    null: bool,
    boolean: bool,
    integer: bool,
    fraction: bool,
    /// The formats every string so far had (`None` before the first string).
    string_formats: Option<BTreeSet<&'static str>>,
    /// The objects seen, and each property with how many of them had it.
    objects: usize,
    properties: Vec<(String, usize, Shape)>,
    /// Every element of every array seen.
    arrays: bool,
    items: Option<Box<Shape>>,
}

impl Shape {
    fn add(&mut self, v: &Value) {
        self.seen = true;
        match v {
            Value::Null => self.null = true,
            Value::Bool(_) => self.boolean = true,
            Value::Number(n) => {
                if n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0) {
                    self.integer = true;
                } else {
                    self.fraction = true;
                }
            }
            Value::String(s) => {
                let formats = formats_of(s);
                self.string_formats = Some(match self.string_formats.take() {
                    None => formats,
                    Some(before) => before.intersection(&formats).copied().collect(),
                });
            }
            Value::Array(a) => {
                self.arrays = true;
                let items = self.items.get_or_insert_with(Default::default);
                for x in a {
                    items.add(x);
                }
            }
            Value::Object(m) => {
                self.objects += 1;
                for (k, x) in m {
                    match self.properties.iter_mut().find(|(name, _, _)| name == k) {
                        Some((_, n, shape)) => {
                            *n += 1;
                            shape.add(x);
                        }
                        None => {
                            let mut shape = Shape::default();
                            shape.add(x);
                            self.properties.push((k.clone(), 1, shape));
                        }
                    }
                }
            }
        }
    }

    fn schema(&self) -> Value {
        if !self.seen {
            return json!({});
        }
        let mut types = Vec::new();
        if self.null {
            types.push("null");
        }
        if self.boolean {
            types.push("boolean");
        }
        if self.objects > 0 {
            types.push("object");
        }
        if self.arrays {
            types.push("array");
        }
        match (self.integer, self.fraction) {
            (_, true) => types.push("number"),
            (true, false) => types.push("integer"),
            _ => {}
        }
        if self.string_formats.is_some() {
            types.push("string");
        }
        let mut m = Map::new();
        m.insert(
            "type".into(),
            if types.len() == 1 {
                json!(types[0])
            } else {
                json!(types)
            },
        );
        if let Some(f) = self.string_formats.as_ref().and_then(|f| f.first()) {
            m.insert("format".into(), json!(f));
        }
        if self.objects > 0 {
            let mut props = Map::new();
            let mut required = Vec::new();
            for (name, n, shape) in &self.properties {
                props.insert(name.clone(), shape.schema());
                if *n == self.objects {
                    required.push(json!(name));
                }
            }
            m.insert("properties".into(), Value::Object(props));
            if !required.is_empty() {
                m.insert("required".into(), Value::Array(required));
            }
        }
        if let Some(items) = &self.items {
            m.insert("items".into(), items.schema());
        }
        Value::Object(m)
    }
}

/// The formats a string has, most specific first (`date-time` before `uri`).
fn formats_of(s: &str) -> BTreeSet<&'static str> {
    let mut out = BTreeSet::new();
    if is_date_time(s) {
        out.insert("date-time");
    }
    if is_email(s) {
        out.insert("email");
    }
    if is_uri(s) {
        out.insert("uri");
    }
    out
}

/// RFC 3339 `date-time`: `2026-12-03T04:05:06Z`, with fractions of a second and an offset.
pub fn is_date_time(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| r.clone().all(|i| b.get(i).is_some_and(u8::is_ascii_digit));
    if b.len() < 20
        || !digits(0..4)
        || b[4] != b'-'
        || !digits(5..7)
        || b[7] != b'-'
        || !digits(8..10)
        || !matches!(b[10], b'T' | b't')
        || !digits(11..13)
        || b[13] != b':'
        || !digits(14..16)
        || b[16] != b':'
        || !digits(17..19)
    {
        return false;
    }
    let (month, day) = (
        (b[5] - b'0') * 10 + (b[6] - b'0'),
        (b[8] - b'0') * 10 + (b[9] - b'0'),
    );
    let (hour, minute, second) = (
        (b[11] - b'0') * 10 + (b[12] - b'0'),
        (b[14] - b'0') * 10 + (b[15] - b'0'),
        (b[17] - b'0') * 10 + (b[18] - b'0'),
    );
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return false;
    }
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match &b[i..] {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => {
            [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit())
                && (*h1 - b'0') * 10 + (*h2 - b'0') <= 23
                && (*m1 - b'0') * 10 + (*m2 - b'0') <= 59
        }
        _ => false,
    }
}

/// An absolute URI (RFC 3986): a scheme (`https:`, `urn:`, `mailto:`), then only the
/// characters a URI may hold, a `%` followed by two hex digits. A URI template
/// (`…/keys{/key_id}`, as in GitHub's payloads) or a link with a backslash is not one.
pub fn is_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    if !(chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !rest.is_empty())
    {
        return false;
    }
    let b = rest.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' {
            if !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
            {
                return false;
            }
            i += 3;
            continue;
        }
        let allowed = c.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=".contains(&c);
        if !allowed {
            return false;
        }
        i += 1;
    }
    true
}

/// `local@domain.tld` (RFC 5322's dot-atom: the local part of letters, digits and
/// ``!#$%&'*+-/=?^_`{|}~``, dots between; the domain of labels of letters, digits and
/// hyphens, two at least). `41898282+github-actions[bot]@users.noreply.github.com`, with its
/// brackets, is not one.
pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    let atoms = |part: &str, ok: &dyn Fn(char) -> bool| {
        !part.is_empty()
            && part
                .split('.')
                .all(|atom| !atom.is_empty() && atom.chars().all(ok))
    };
    let local_ok = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
    let label_ok = |c: char| c.is_ascii_alphanumeric() || c == '-';
    atoms(local, &local_ok)
        && atoms(domain, &label_ok)
        && domain.contains('.')
        && domain
            .split('.')
            .all(|l| !l.starts_with('-') && !l.ends_with('-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_merge_and_a_property_is_required_only_when_every_sample_had_it() {
        let s = infer(&[
            json!({"id": 1, "name": "a", "at": "2026-12-03T04:05:06Z", "tags": ["x"]}),
            json!({"id": 2.5, "at": "2026-12-03T04:05:06.123+01:00", "tags": [], "home": "https://example.com/a"}),
        ]);
        assert_eq!(s["type"], "object");
        assert_eq!(s["required"], json!(["id", "at", "tags"]));
        assert_eq!(s["properties"]["id"]["type"], "number");
        assert_eq!(s["properties"]["name"]["type"], "string");
        assert_eq!(s["properties"]["at"]["format"], "date-time");
        assert_eq!(s["properties"]["home"]["format"], "uri");
        assert_eq!(s["properties"]["tags"]["items"]["type"], "string");
        assert!(s["properties"]["name"].get("format").is_none());
    }

    #[test]
    fn a_null_beside_a_value_makes_a_union() {
        let s = infer(&[json!({"a": null}), json!({"a": "x@example.com"})]);
        assert_eq!(s["properties"]["a"]["type"], json!(["null", "string"]));
        assert_eq!(s["properties"]["a"]["format"], "email");
    }

    #[test]
    fn formats_are_recognised_strictly() {
        assert!(is_date_time("2026-12-03T04:05:06Z"));
        assert!(is_date_time("2026-12-03t04:05:06.5-07:30"));
        assert!(!is_date_time("2026-13-03T04:05:06Z"));
        assert!(!is_date_time("2026-12-03 04:05:06Z"));
        assert!(!is_date_time("2026-12-03T04:05:06"));
        assert!(is_uri("https://github.com/acme/web"));
        assert!(is_uri("urn:uuid:0"));
        assert!(!is_uri("acme/web"));
        assert!(!is_uri("a b:c"));
        assert!(!is_uri(
            "https://api.github.com/repos/acme/web/keys{/key_id}"
        ));
        assert!(!is_uri("https://example.com/a\\u0026b"));
        assert!(is_uri("https://example.com/a%20b?x=1&y=2#top"));
        assert!(!is_uri("https://example.com/a%2"));
        assert!(is_email("octocat@github.com"));
        assert!(!is_email("octocat"));
        assert!(!is_email("a@b"));
        assert!(!is_email(
            "41898282+github-actions[bot]@users.noreply.github.com"
        ));
        assert!(is_email("41898282+github-actions@users.noreply.github.com"));
        assert!(!is_email("a..b@example.com"));
    }
}
