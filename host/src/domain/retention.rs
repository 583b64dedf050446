//! How long each kind of record is kept, and where its retention ends.
//!
//! Counters and tallies (decisions by outcome, commands per hour, events
//! per engine) are never pruned, so `/metrics` and whole-hour metrics are
//! unchanged by retention. The audit log is not a [`Kept`] kind at all:
//! nothing here can name it.

use serde::Deserialize;

use super::Timestamp;

const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;

/// The longest look-back any reader of engines' events uses (the 30-day
/// event stats): events younger than this are never pruned.
pub const EVENTS_READ_BACK_MS: i64 = 30 * DAY_MS;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RetentionError {
    #[error("`{text}` is not a retention period like `30d`, `12h`, `5m`, `20s`, `250ms`, or `0` (keep forever)")]
    BadPeriod { text: String },
    #[error("`every` must be a period of at least 1 ms, got `{0}`")]
    NoInterval(String),
    #[error("`batch_rows` must be between 1 and {max}, got {got}")]
    BadBatch { got: u32, max: u32 },
}

/// A retention period; `None` keeps rows forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Period(Option<i64>);

impl Period {
    pub const FOREVER: Period = Period(None);

    pub const fn days(n: i64) -> Self {
        Period(Some(n * DAY_MS))
    }

    pub const fn millis(ms: i64) -> Self {
        Period(Some(ms))
    }

    pub fn as_millis(self) -> Option<i64> {
        self.0
    }

    pub fn parse(text: &str) -> Result<Self, RetentionError> {
        let bad = || RetentionError::BadPeriod { text: text.into() };
        let trimmed = text.trim();
        if trimmed == "0" || trimmed == "forever" {
            return Ok(Period::FOREVER);
        }
        let split = trimmed
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(bad)?;
        let (digits, unit) = trimmed.split_at(split);
        let n: i64 = digits.parse().map_err(|_| bad())?;
        let unit_ms = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => HOUR_MS,
            "d" => DAY_MS,
            _ => return Err(bad()),
        };
        match n.checked_mul(unit_ms) {
            Some(0) => Ok(Period::FOREVER),
            Some(ms) => Ok(Period(Some(ms))),
            None => Err(bad()),
        }
    }
}

impl TryFrom<String> for Period {
    type Error = RetentionError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Period::parse(&text)
    }
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            None => f.write_str("forever"),
            Some(ms) => {
                for (unit, size) in [("d", DAY_MS), ("h", HOUR_MS), ("m", 60_000), ("s", 1_000)] {
                    if ms % size == 0 {
                        return write!(f, "{}{unit}", ms / size);
                    }
                }
                write!(f, "{ms}ms")
            }
        }
    }
}

/// What retention prunes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kept {
    /// The authorize decision log (`decision_totals` stay).
    Decisions,
    /// Plugin evaluations recorded through the API.
    Evaluations,
    /// Stored readiness assessments; the newest is always kept.
    Assessments,
    /// Raw commands; `command_hours` and `command_type_totals` stay.
    Commands,
    /// Engines' events (`engine_event_totals` stay); an event is kept
    /// while an action taken on it is.
    Events,
    /// Auto-actions and escalations whose webhook delivery is settled;
    /// a pending one is never pruned.
    AutoActions,
    /// The webhook attempts' record on a settled action: its last error.
    WebhookAttempts,
    /// Console sessions that ended or expired; their start and end stay in
    /// the audit log.
    Sessions,
    /// Idempotency keys whose row expired: an answer past
    /// `[idempotency] retention_hours`, or a claim whose lease lapsed.
    /// Each row carries its own expiry, so this kind has no `[retention]`
    /// period: it goes as soon as that expiry passes.
    IdempotencyKeys,
}

impl Kept {
    /// In the order a pass runs: actions before the events they name.
    pub const ALL: [Kept; 9] = [
        Kept::Decisions,
        Kept::Evaluations,
        Kept::Assessments,
        Kept::Commands,
        Kept::WebhookAttempts,
        Kept::AutoActions,
        Kept::Events,
        Kept::Sessions,
        Kept::IdempotencyKeys,
    ];

    /// The `[retention]` key (none for idempotency keys) and the metric's
    /// `table` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Kept::Decisions => "decisions",
            Kept::Evaluations => "evaluations",
            Kept::Assessments => "assessments",
            Kept::Commands => "commands",
            Kept::Events => "events",
            Kept::AutoActions => "auto_actions",
            Kept::WebhookAttempts => "webhook_attempts",
            Kept::Sessions => "sessions",
            Kept::IdempotencyKeys => "idempotency_keys",
        }
    }
}

/// `[retention]`: a period per kind, how often the pruner runs, and how
/// many rows one transaction may delete.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionPolicy {
    pub decisions: Period,
    pub evaluations: Period,
    pub assessments: Period,
    pub commands: Period,
    pub events: Period,
    pub auto_actions: Period,
    pub webhook_attempts: Period,
    /// How long a console session is kept after it ended or expired.
    pub sessions: Period,
    pub every: Period,
    pub batch_rows: u32,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self {
            decisions: Period::days(30),
            evaluations: Period::days(7),
            assessments: Period::days(90),
            commands: Period::days(30),
            events: Period::days(180),
            auto_actions: Period::days(180),
            webhook_attempts: Period::days(30),
            sessions: Period::days(1),
            every: Period::millis(10 * 60_000),
            batch_rows: 500,
        }
    }
}

impl RetentionPolicy {
    /// Large enough to keep up, small enough that one transaction holds
    /// the write lock for milliseconds.
    pub const MAX_BATCH_ROWS: u32 = 10_000;

    pub fn check(&self) -> Result<(), RetentionError> {
        if self.every.as_millis().is_none() {
            return Err(RetentionError::NoInterval(self.every.to_string()));
        }
        if self.batch_rows == 0 || self.batch_rows > Self::MAX_BATCH_ROWS {
            return Err(RetentionError::BadBatch {
                got: self.batch_rows,
                max: Self::MAX_BATCH_ROWS,
            });
        }
        Ok(())
    }

    pub fn period(&self, what: Kept) -> Period {
        match what {
            Kept::Decisions => self.decisions,
            Kept::Evaluations => self.evaluations,
            Kept::Assessments => self.assessments,
            Kept::Commands => self.commands,
            Kept::Events => self.events,
            Kept::AutoActions => self.auto_actions,
            Kept::WebhookAttempts => self.webhook_attempts,
            Kept::Sessions => self.sessions,
            // Expired rows go at once; their window is the row's own
            // `expires_ms`, set from `[idempotency] retention_hours`.
            Kept::IdempotencyKeys => Period::millis(0),
        }
    }

    /// Rows of `what` older than the returned time may go; `None` keeps
    /// them all. `read_back_ms` is the longest window a reader of these
    /// rows looks back over: retention never cuts into it, so a short
    /// period cannot blind a breaker or the readiness metrics.
    pub fn cutoff(&self, what: Kept, now: Timestamp, read_back_ms: i64) -> Option<Timestamp> {
        let keep = self.period(what).as_millis()?.max(read_back_ms);
        Some(Timestamp(now.millis().saturating_sub(keep)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_parse_and_zero_keeps_forever() {
        assert_eq!(Period::parse("30d").unwrap(), Period::days(30));
        assert_eq!(Period::parse("250ms").unwrap(), Period::millis(250));
        assert_eq!(Period::parse("20s").unwrap().as_millis(), Some(20_000));
        assert_eq!(Period::parse("0").unwrap(), Period::FOREVER);
        assert_eq!(Period::parse("forever").unwrap(), Period::FOREVER);
        for bad in ["", "30", "d", "-1d", "3w", "99999999999999999999d", "1.5h"] {
            assert!(Period::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Period::days(30).to_string(), "30d");
        assert_eq!(Period::millis(1_500).to_string(), "1500ms");
    }

    #[test]
    fn a_cutoff_never_cuts_into_what_readers_look_back_over() {
        let policy = RetentionPolicy {
            commands: Period::millis(1_000),
            decisions: Period::FOREVER,
            ..RetentionPolicy::default()
        };
        let now = Timestamp(100 * DAY_MS);
        assert_eq!(
            policy.cutoff(Kept::Commands, now, 7 * DAY_MS),
            Some(Timestamp(93 * DAY_MS))
        );
        assert_eq!(
            policy.cutoff(Kept::Commands, now, 0),
            Some(Timestamp(100 * DAY_MS - 1_000))
        );
        assert_eq!(policy.cutoff(Kept::Decisions, now, 0), None);
    }

    #[test]
    fn a_policy_needs_an_interval_and_a_sane_batch() {
        assert!(RetentionPolicy::default().check().is_ok());
        let no_interval = RetentionPolicy {
            every: Period::FOREVER,
            ..RetentionPolicy::default()
        };
        assert!(matches!(
            no_interval.check(),
            Err(RetentionError::NoInterval(_))
        ));
        let huge = RetentionPolicy {
            batch_rows: 1_000_000,
            ..RetentionPolicy::default()
        };
        assert!(matches!(huge.check(), Err(RetentionError::BadBatch { .. })));
    }
}
