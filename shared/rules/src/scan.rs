//! A one-pass reader of JSON text for the compiled matcher: it decodes only what it is asked
//! to (keys, and the leaves at paths some pattern mentions) and skips the rest, checking only
//! the structure it must walk to skip it (strings, brackets). It never panics on bad input.

use std::borrow::Cow;

/// Where and why the event text is not JSON.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid JSON at byte {at}: {message}")]
pub struct JsonError {
    pub at: usize,
    pub message: String,
}

/// A decoded scalar.
pub enum Token<'a> {
    Str(Cow<'a, str>),
    Num(f64),
    Bool(bool),
    Null,
}

pub struct Scanner<'a> {
    text: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Scanner<'a> {
    pub fn new(text: &'a str) -> Scanner<'a> {
        Scanner {
            text,
            b: text.as_bytes(),
            i: 0,
        }
    }

    pub fn error(&self, message: &str) -> JsonError {
        JsonError {
            at: self.i,
            message: message.to_string(),
        }
    }

    pub fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    pub fn bump(&mut self) {
        self.i += 1;
    }

    pub fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    pub fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.i += 1;
        }
    }

    /// The end (index of the closing quote) of the string starting at `self.i`, and whether
    /// it holds escapes.
    fn string_end(&self) -> Result<(usize, bool), JsonError> {
        if self.peek() != Some(b'"') {
            return Err(self.error("expected a string"));
        }
        let mut j = self.i + 1;
        let mut escaped = false;
        loop {
            // Jump to the next quote or backslash; the bytes passed over must not be control
            // characters (checked without branching, so the compiler can vectorise it).
            let rest = self.b.get(j..).unwrap_or(&[]);
            let next = memchr::memchr2(b'"', b'\\', rest);
            let span = &rest[..next.unwrap_or(rest.len())];
            if span.iter().fold(false, |bad, &c| bad | (c < 0x20)) {
                let at = j + span.iter().position(|&c| c < 0x20).unwrap_or(0);
                return Err(JsonError {
                    at,
                    message: "control character in a string".into(),
                });
            }
            match next {
                None => {
                    return Err(JsonError {
                        at: j + rest.len(),
                        message: "unterminated string".into(),
                    })
                }
                Some(k) if rest[k] == b'"' => return Ok((j + k, escaped)),
                Some(k) => {
                    escaped = true;
                    j += k + 2;
                }
            }
        }
    }

    /// A string, unescaped only when it holds escapes.
    pub fn string(&mut self) -> Result<Cow<'a, str>, JsonError> {
        let start = self.i;
        let (end, escaped) = self.string_end()?;
        self.i = end + 1;
        if !escaped {
            // Quotes are ASCII, so these are character boundaries.
            return Ok(Cow::Borrowed(&self.text[start + 1..end]));
        }
        serde_json::from_str::<String>(&self.text[start..=end])
            .map(Cow::Owned)
            .map_err(|e| JsonError {
                at: start,
                message: e.to_string(),
            })
    }

    /// A string, number, boolean or null.
    pub fn scalar(&mut self) -> Result<Token<'a>, JsonError> {
        match self.peek() {
            Some(b'"') => self.string().map(Token::Str),
            Some(b't') => self.literal("true", Token::Bool(true)),
            Some(b'f') => self.literal("false", Token::Bool(false)),
            Some(b'n') => self.literal("null", Token::Null),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.i;
                while matches!(
                    self.peek(),
                    Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                ) {
                    self.i += 1;
                }
                let t = &self.text[start..self.i];
                let valid = serde_json::from_str::<serde_json::Number>(t).is_ok();
                match t.parse::<f64>() {
                    Ok(x) if valid => Ok(Token::Num(x)),
                    _ => Err(JsonError {
                        at: start,
                        message: format!("`{t}` is not a JSON number"),
                    }),
                }
            }
            _ => Err(self.error("expected a value")),
        }
    }

    fn literal(&mut self, word: &str, t: Token<'a>) -> Result<Token<'a>, JsonError> {
        if self.b[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            Ok(t)
        } else {
            Err(self.error("expected true, false or null"))
        }
    }

    /// Skips one value of any kind.
    pub fn skip_value(&mut self) -> Result<(), JsonError> {
        self.ws();
        match self.peek() {
            Some(b'{' | b'[') => {
                let mut depth = 0usize;
                loop {
                    match self.peek() {
                        None => return Err(self.error("unterminated object or array")),
                        Some(b'"') => {
                            let (end, _) = self.string_end()?;
                            self.i = end + 1;
                            continue;
                        }
                        Some(b'{' | b'[') => depth += 1,
                        Some(b'}' | b']') => {
                            depth -= 1;
                            if depth == 0 {
                                self.i += 1;
                                return Ok(());
                            }
                        }
                        _ => {}
                    }
                    self.i += 1;
                }
            }
            Some(b'"') => {
                let (end, _) = self.string_end()?;
                self.i = end + 1;
                Ok(())
            }
            _ => self.scalar().map(|_| ()),
        }
    }
}
