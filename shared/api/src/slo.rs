//! Service level objectives of Helios itself, served at `GET /v1/slo`: how many events were
//! decided in time, how many decisions' workflows notified in time, and how many
//! reconciliations found every source alike (reconciliation accuracy), over rolling windows,
//! with the burn rate of the error budget and the multi-window burn-rate alerts of the SRE
//! workbook (a page when 2 % of the period's budget burns within an hour, confirmed over
//! five minutes; a ticket when 5 % burns within six hours, confirmed over thirty minutes).
//!
//! The objectives are configuration (`helios dev --slo FILE`, `HELIOS_SLO` in a Lambda):
//!
//! ```yaml
//! period: 30d                   # the error budget's period
//! event_to_decision:            # an event is decided within 5 s of being received
//!   within: 5s
//!   objective: 99               # percent of events
//! decision_to_notification:     # a decision's workflow records within 1 min of it
//!   within: 1m
//!   objective: 99
//! reconciliation_accuracy:      # a reconciliation's sources all report, alike
//!   objective: 99
//! ```
//!
//! They read the store and nothing else: computing them never touches a decision.

use helios_rules::duration::Span;
use helios_store::{SloCounts, SloQuery};
use serde::Deserialize;
use serde_json::{json, Value};

/// One objective: this share of the items is good (in time, for a latency).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Objective {
    /// In time: within this span (`5s`, `1m`); none for reconciliation accuracy.
    #[serde(default)]
    pub within: Option<String>,
    /// The percent of items in time, above 0 and below 100.
    pub objective: f64,
}

/// The objectives and the period of their error budget.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Objectives {
    #[serde(default = "default_period")]
    pub period: String,
    #[serde(default = "default_decision")]
    pub event_to_decision: Objective,
    #[serde(default = "default_notification")]
    pub decision_to_notification: Objective,
    #[serde(default = "default_accuracy")]
    pub reconciliation_accuracy: Objective,
}

fn default_period() -> String {
    "30d".into()
}

fn default_decision() -> Objective {
    Objective {
        within: Some("5s".into()),
        objective: 99.0,
    }
}

fn default_notification() -> Objective {
    Objective {
        within: Some("1m".into()),
        objective: 99.0,
    }
}

fn default_accuracy() -> Objective {
    Objective {
        within: None,
        objective: 99.0,
    }
}

impl Default for Objectives {
    fn default() -> Self {
        Objectives {
            period: default_period(),
            event_to_decision: default_decision(),
            decision_to_notification: default_notification(),
            reconciliation_accuracy: default_accuracy(),
        }
    }
}

/// The windows reported, shortest first; the period is the last.
const WINDOWS: [(&str, i64); 4] = [("5m", 300), ("30m", 1800), ("1h", 3600), ("6h", 21_600)];

/// The alerts: (name, long window, short window, share of the period's budget burnt within
/// the long window).
const ALERTS: [(&str, &str, &str, f64); 2] =
    [("page", "1h", "5m", 0.02), ("ticket", "6h", "30m", 0.05)];

impl Objectives {
    /// Reads objectives from YAML (or JSON); what is left out keeps its default.
    pub fn parse(text: &str) -> Result<Objectives, String> {
        let o: Objectives = if text.trim().is_empty() {
            Objectives::default()
        } else {
            serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?
        };
        o.check()?;
        Ok(o)
    }

    fn check(&self) -> Result<(), String> {
        let period = self.period_seconds()?;
        if period < 21_600 || period % helios_store::SLO_SLOT_SECONDS != 0 {
            return Err(format!(
                "`period` is {}: at least 6h, the longest alert window, in whole 5 minutes",
                self.period
            ));
        }
        for (name, o) in self.each() {
            match (&o.within, name) {
                (Some(_), "reconciliation_accuracy") => {
                    return Err(format!("`{name}` takes no `within`: it counts verdicts"))
                }
                (Some(w), _) => {
                    seconds(w).map_err(|e| format!("`{name}.within`: {e}"))?;
                }
                (None, "reconciliation_accuracy") => {}
                (None, _) => return Err(format!("`{name}` needs `within`, a span such as 5s")),
            }
            if !(o.objective > 0.0 && o.objective < 100.0) {
                return Err(format!(
                    "`{name}.objective` is a percent above 0 and below 100, not {}",
                    o.objective
                ));
            }
        }
        Ok(())
    }

    fn each(&self) -> [(&'static str, &Objective); 3] {
        [
            ("event_to_decision", &self.event_to_decision),
            ("decision_to_notification", &self.decision_to_notification),
            ("reconciliation_accuracy", &self.reconciliation_accuracy),
        ]
    }

    fn period_seconds(&self) -> Result<i64, String> {
        seconds(&self.period).map_err(|e| format!("`period`: {e}"))
    }

    /// The windows to count, shortest first: the alerts' and the period.
    pub fn windows(&self) -> Vec<(String, i64)> {
        let mut w: Vec<(String, i64)> = WINDOWS.iter().map(|(n, s)| (n.to_string(), *s)).collect();
        w.push((
            self.period.clone(),
            self.period_seconds().unwrap_or(2_592_000),
        ));
        w
    }

    /// What to ask the store for every window ending at `until`.
    pub fn query(&self, until: chrono::DateTime<chrono::Utc>) -> SloQuery {
        let within = |o: &Objective| {
            o.within
                .as_deref()
                .and_then(|w| seconds(w).ok())
                .unwrap_or(0) as f64
        };
        SloQuery {
            until,
            windows: self.windows().into_iter().map(|(_, s)| s).collect(),
            decide_within: within(&self.event_to_decision),
            notify_within: within(&self.decision_to_notification),
        }
    }

    /// The report of `GET /v1/slo` from the counts of each window of [`Self::windows`].
    pub fn report(&self, at: &str, counts: &[(String, SloCounts)]) -> Value {
        let period = self.period_seconds().unwrap_or(2_592_000) as f64;
        let slos: Vec<Value> = self
            .each()
            .into_iter()
            .map(|(name, o)| {
                let budget = 1.0 - o.objective / 100.0;
                let of = |c: &SloCounts| match name {
                    "event_to_decision" => (c.decided, c.decided_in_time),
                    "decision_to_notification" => (c.notified, c.notified_in_time),
                    _ => (c.reconciled, c.reconciled_alike),
                };
                let burn = |total: i64, good: i64| {
                    (total > 0).then(|| (1.0 - good as f64 / total as f64) / budget)
                };
                let windows: Vec<Value> = counts
                    .iter()
                    .map(|(w, c)| {
                        let (total, good) = of(c);
                        json!({
                            "window": w,
                            "total": total,
                            "good": good,
                            "compliance": (total > 0).then(|| 100.0 * good as f64 / total as f64),
                            "burn_rate": burn(total, good),
                        })
                    })
                    .collect();
                let burn_of = |w: &str| {
                    counts
                        .iter()
                        .find(|(n, _)| n == w)
                        .and_then(|(_, c)| {
                            let (total, good) = of(c);
                            burn(total, good)
                        })
                        .unwrap_or(0.0)
                };
                let alerts: Vec<Value> = ALERTS
                    .iter()
                    .map(|(alert, long, short, share)| {
                        let long_s = WINDOWS
                            .iter()
                            .find(|(n, _)| n == long)
                            .map_or(3600, |(_, s)| *s) as f64;
                        let over = share * period / long_s;
                        json!({
                            "name": alert,
                            "long": long,
                            "short": short,
                            "burn_rate_over": over,
                            "firing": burn_of(long) > over && burn_of(short) > over,
                        })
                    })
                    .collect();
                let spent = counts.last().and_then(|(_, c)| {
                    let (total, good) = of(c);
                    burn(total, good)
                });
                json!({
                    "name": name,
                    "within": o.within,
                    "objective": o.objective,
                    "windows": windows,
                    // The share of the period's budget left, by the period's own window.
                    "budget_remaining": spent.map(|b| 100.0 * (1.0 - b)),
                    "alerts": alerts,
                })
            })
            .collect();
        json!({"at": at, "period": self.period, "slos": slos})
    }
}

fn seconds(span: &str) -> Result<i64, String> {
    let s = Span::parse(span)?;
    i64::try_from(s.seconds()).map_err(|_| format!("{span} is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objectives_keep_their_defaults_and_refuse_what_cannot_be_met() {
        assert_eq!(Objectives::parse("").unwrap(), Objectives::default());
        let o = Objectives::parse("event_to_decision: {within: 2s, objective: 99.9}").unwrap();
        assert_eq!(o.event_to_decision.within.as_deref(), Some("2s"));
        assert_eq!(o.decision_to_notification, default_notification());
        for (bad, says) in [
            (
                "event_to_decision: {within: 2s, objective: 100}",
                "above 0 and below 100",
            ),
            (
                "event_to_decision: {within: soon, objective: 99}",
                "event_to_decision.within",
            ),
            ("period: 1h", "at least 6h"),
            ("periode: 30d", "unknown field `periode`"),
            (
                "reconciliation_accuracy: {within: 1m, objective: 99}",
                "takes no `within`",
            ),
            ("event_to_decision: {objective: 99}", "needs `within`"),
        ] {
            let e = Objectives::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
        let q = o.query(chrono::Utc::now());
        assert_eq!((q.decide_within, q.notify_within), (2.0, 60.0));
        assert_eq!(q.windows, [300, 1800, 3600, 21_600, 2_592_000]);
        assert!(Objectives::parse("period: 6h1s")
            .unwrap_err()
            .contains("whole 5 minutes"));
    }

    #[test]
    fn burn_rates_fire_the_page_only_when_both_windows_burn() {
        let o = Objectives::default(); // 99 %: a budget of 1 %, over 30 days
        let c = |total, good| SloCounts {
            decided: total,
            decided_in_time: good,
            reconciled: 4,
            reconciled_alike: 3,
            ..Default::default()
        };
        // 20 % late in the last hour and the last 5 minutes: a burn of 20, over 14.4.
        let counts = |short: SloCounts| {
            vec![
                ("5m".to_string(), short),
                ("30m".to_string(), c(100, 80)),
                ("1h".to_string(), c(100, 80)),
                ("6h".to_string(), c(1000, 990)),
                ("30d".to_string(), c(100_000, 99_500)),
            ]
        };
        let r = o.report("now", &counts(c(10, 8)));
        let e2d = &r["slos"][0];
        assert_eq!(e2d["name"], "event_to_decision");
        let burn = e2d["windows"][2]["burn_rate"].as_f64().unwrap();
        assert!((burn - 20.0).abs() < 1e-9, "{burn}");
        assert_eq!(e2d["windows"][2]["compliance"], 80.0);
        assert_eq!(e2d["alerts"][0]["name"], "page");
        assert!((e2d["alerts"][0]["burn_rate_over"].as_f64().unwrap() - 14.4).abs() < 1e-9);
        assert_eq!(e2d["alerts"][0]["firing"], true);
        // 6h burns 1 and 30m 20: the ticket (over 6) needs both.
        assert!((e2d["alerts"][1]["burn_rate_over"].as_f64().unwrap() - 6.0).abs() < 1e-9);
        assert_eq!(e2d["alerts"][1]["firing"], false);
        // Half the budget of the period is spent.
        assert!((e2d["budget_remaining"].as_f64().unwrap() - 50.0).abs() < 1e-9);
        // The last five minutes recovered: no page.
        let r = o.report("now", &counts(c(10, 10)));
        assert_eq!(r["slos"][0]["alerts"][0]["firing"], false);
        // Nothing to count: no compliance, no burn, no alert.
        let empty = &r["slos"][1];
        assert_eq!(empty["name"], "decision_to_notification");
        assert_eq!(empty["windows"][0]["compliance"], Value::Null);
        assert_eq!(empty["budget_remaining"], Value::Null);
        assert_eq!(empty["alerts"][0]["firing"], false);
        // Three reconciliations of four alike: 75 %, against 99 %.
        let accuracy = &r["slos"][2];
        assert_eq!(accuracy["name"], "reconciliation_accuracy");
        assert_eq!(accuracy["within"], Value::Null);
        assert_eq!(accuracy["windows"][0]["compliance"], 75.0);
        assert!((accuracy["windows"][0]["burn_rate"].as_f64().unwrap() - 25.0).abs() < 1e-9);
    }
}
