//! Durations as rule documents write them: `90s`, `15m`, `1h30m`, `2d`.

use std::fmt;

/// A whole number of seconds, written the way rules write it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span(pub u64);

impl Span {
    /// Parses `<n><unit>` pieces (units `s`, `m`, `h`, `d`), at least one, none repeated out
    /// of order; the total must be positive.
    pub fn parse(text: &str) -> Result<Span, String> {
        let t = text.trim();
        if t.is_empty() {
            return Err("a duration is empty; write it like `90s`, `15m`, `1h30m` or `2d`".into());
        }
        let mut total: u64 = 0;
        let mut digits = String::new();
        let mut last_unit = u64::MAX;
        for c in t.chars() {
            if c.is_ascii_digit() {
                digits.push(c);
                continue;
            }
            let unit = match c {
                'd' => 86_400,
                'h' => 3_600,
                'm' => 60,
                's' => 1,
                _ => {
                    return Err(format!(
                        "`{text}` is not a duration: `{c}` is not a unit (use s, m, h or d)"
                    ))
                }
            };
            if digits.is_empty() {
                return Err(format!(
                    "`{text}` is not a duration: `{c}` has no number before it"
                ));
            }
            if unit >= last_unit {
                return Err(format!(
                    "`{text}` is not a duration: units must go from largest to smallest, once each"
                ));
            }
            last_unit = unit;
            let n: u64 = digits
                .parse()
                .map_err(|_| format!("`{text}` is not a duration: `{digits}` is too large"))?;
            digits.clear();
            total = n
                .checked_mul(unit)
                .and_then(|x| total.checked_add(x))
                .ok_or_else(|| format!("`{text}` is too long a duration"))?;
        }
        if !digits.is_empty() {
            return Err(format!(
                "`{text}` is not a duration: `{digits}` has no unit (use s, m, h or d)"
            ));
        }
        if total == 0 {
            return Err(format!("`{text}` is not a positive duration"));
        }
        Ok(Span(total))
    }

    pub fn seconds(self) -> u64 {
        self.0
    }

    pub fn millis(self) -> i64 {
        i64::try_from(self.0.saturating_mul(1000)).unwrap_or(i64::MAX)
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        for (unit, name) in [(86_400, 'd'), (3_600, 'h'), (60, 'm'), (1, 's')] {
            if rest >= unit {
                write!(f, "{}{name}", rest / unit)?;
                rest %= unit;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Span;

    #[test]
    fn durations_parse_in_every_unit_and_combination() {
        assert_eq!(Span::parse("90s"), Ok(Span(90)));
        assert_eq!(Span::parse("15m"), Ok(Span(900)));
        assert_eq!(Span::parse("1h30m"), Ok(Span(5400)));
        assert_eq!(Span::parse("2d"), Ok(Span(172_800)));
        assert_eq!(Span(5400).to_string(), "1h30m");
        assert_eq!(Span(90).to_string(), "1m30s");
    }

    #[test]
    fn bad_durations_say_what_is_wrong() {
        assert!(Span::parse("").unwrap_err().contains("empty"));
        assert!(Span::parse("10").unwrap_err().contains("no unit"));
        assert!(Span::parse("5w").unwrap_err().contains("not a unit"));
        assert!(Span::parse("h").unwrap_err().contains("no number"));
        assert!(Span::parse("1m1h")
            .unwrap_err()
            .contains("largest to smallest"));
        assert!(Span::parse("0s").unwrap_err().contains("positive"));
        assert!(Span::parse("99999999999999999999d")
            .unwrap_err()
            .contains("too"));
    }
}
