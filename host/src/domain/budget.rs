//! Graded brakes on autonomy: rate budgets ("3 per 5m"), concurrency
//! budgets ("150 in flight"), batch limits ("50 per batch, 2 MB"), and the
//! throttles that tripped breakers impose.
//!
//! Nothing here reads a clock or a store. An autonomous decision names the
//! budgets it draws on as [`Claim`]s; the decision log settles a batch of
//! them against the [`Usage`] it read under its lock ([`settle`]), so that
//! replicas sharing one database never grant more than a budget holds.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::breaker::{ThrottleSpec, Window};
use super::text::{check_id, TextError};
use super::Timestamp;

/// Why a budget or a batch limit was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BudgetError {
    #[error(transparent)]
    Text(#[from] TextError),
    #[error("`key` `{text}` is not `all`, `command:<type>`, `scope:<scope>` or `agent:<id>`")]
    BadKey { text: String },
    #[error("`limit` must be at least 1")]
    ZeroLimit,
    #[error("`{field}` must be at least 1")]
    ZeroBatchLimit { field: &'static str },
    #[error("a batch limit needs `maxBatch`, `maxPayloadBytes` or both")]
    EmptyBatchLimit,
    #[error("`{field}` must be at most {max}")]
    OverMaximum { field: &'static str, max: u64 },
}

/// The largest limit a budget, throttle or batch limit may set: far above
/// any real one, and within every JSON Schema integer.
pub const MAX_LIMIT: u32 = 1_000_000_000;
/// The largest payload size a batch limit may name or a caller report (1 PiB).
pub const MAX_PAYLOAD_BYTES: u64 = 1 << 50;

/// What a budget counts: every autonomous decision, or those of one
/// command type, scope or agent. Written `all`, `command:REPLAY_DLQ`,
/// `scope:portal:carrier` or `agent:agent-7`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BudgetKey {
    All,
    CommandType(String),
    Scope(String),
    Agent(String),
}

impl BudgetKey {
    pub fn parse(text: &str) -> Result<Self, BudgetError> {
        if text == "all" {
            return Ok(Self::All);
        }
        let bad = || BudgetError::BadKey {
            text: text.to_string(),
        };
        let (kind, value) = text.split_once(':').ok_or_else(bad)?;
        check_id("key", value).map_err(|_| bad())?;
        match kind {
            "command" => Ok(Self::CommandType(value.to_string())),
            "scope" => Ok(Self::Scope(value.to_string())),
            "agent" => Ok(Self::Agent(value.to_string())),
            _ => Err(bad()),
        }
    }

    /// Whether a request with these ids draws on the budget.
    pub fn matches(&self, command_type: &str, scope: Option<&str>, agent: Option<&str>) -> bool {
        match self {
            Self::All => true,
            Self::CommandType(c) => c == command_type,
            Self::Scope(s) => scope == Some(s.as_str()),
            Self::Agent(a) => agent == Some(a.as_str()),
        }
    }
}

impl std::fmt::Display for BudgetKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::All => f.write_str("all"),
            Self::CommandType(c) => write!(f, "command:{c}"),
            Self::Scope(s) => write!(f, "scope:{s}"),
            Self::Agent(a) => write!(f, "agent:{a}"),
        }
    }
}

impl Serialize for BudgetKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for BudgetKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        BudgetKey::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for BudgetKey {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some("^(all|(command|scope|agent):.*[^\\s].*)$"))
            .examples(["command:REPLAY_DLQ"])
            .into()
    }
}
impl utoipa::ToSchema for BudgetKey {}

/// "At most `limit` autonomous decisions per `window`", over a sliding
/// window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateBudget {
    pub key: BudgetKey,
    #[schema(minimum = 1, maximum = 1_000_000_000)]
    pub limit: u32,
    pub window: Window,
}

/// "At most `limit` autonomous operations in flight": each autonomous
/// decision holds a lease until it is completed or `leaseTtl` passes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConcurrencyBudget {
    pub key: BudgetKey,
    #[schema(minimum = 1, maximum = 1_000_000_000)]
    pub limit: u32,
    pub lease_ttl: Window,
}

/// Caps on what one command may carry, checked from the `batchSize` and
/// `payloadBytes` the caller sends. A caller that leaves out a capped
/// field is denied: an unknown size is not a small one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BatchLimit {
    #[serde(default)]
    #[schema(minimum = 1, maximum = 1_000_000_000)]
    pub max_batch: Option<u32>,
    #[serde(default)]
    #[schema(minimum = 1, maximum = 1_125_899_906_842_624_u64)]
    pub max_payload_bytes: Option<u64>,
}

impl Budgets {
    pub fn insert(&mut self, name: String, def: BudgetDef) {
        match def {
            BudgetDef::Rate(b) => self.rates.push((name, b)),
            BudgetDef::Concurrency(b) => self.concurrency.push((name, b)),
            BudgetDef::Batch(b) => {
                self.batches.insert(name, b);
            }
        }
    }
}

impl RateBudget {
    pub fn check(&self) -> Result<(), BudgetError> {
        nonzero(self.limit)
    }
}

impl ConcurrencyBudget {
    pub fn check(&self) -> Result<(), BudgetError> {
        nonzero(self.limit)
    }
}

impl BatchLimit {
    pub fn check(&self) -> Result<(), BudgetError> {
        if self.max_batch.is_none() && self.max_payload_bytes.is_none() {
            return Err(BudgetError::EmptyBatchLimit);
        }
        if self.max_batch == Some(0) {
            return Err(BudgetError::ZeroBatchLimit { field: "maxBatch" });
        }
        if self.max_payload_bytes == Some(0) {
            return Err(BudgetError::ZeroBatchLimit {
                field: "maxPayloadBytes",
            });
        }
        if let Some(n) = self.max_batch {
            at_most("maxBatch", u64::from(n), u64::from(MAX_LIMIT))?;
        }
        if let Some(n) = self.max_payload_bytes {
            at_most("maxPayloadBytes", n, MAX_PAYLOAD_BYTES)?;
        }
        Ok(())
    }

    /// Why a command of this size is refused, if it is.
    pub fn refusals(
        &self,
        command_type: &str,
        batch_size: Option<u64>,
        payload_bytes: Option<u64>,
    ) -> Vec<String> {
        let mut refusals = Vec::new();
        if let Some(max) = self.max_batch {
            match batch_size {
                None => refusals.push(format!(
                    "`batchSize` is required: `{command_type}` allows at most {max} per batch"
                )),
                Some(n) if n > u64::from(max) => refusals.push(format!(
                    "a batch of {n} is over `{command_type}`'s limit of {max} per batch"
                )),
                Some(_) => {}
            }
        }
        if let Some(max) = self.max_payload_bytes {
            match payload_bytes {
                None => refusals.push(format!(
                    "`payloadBytes` is required: `{command_type}` allows at most {max} bytes"
                )),
                Some(n) if n > max => refusals.push(format!(
                    "a payload of {n} bytes is over `{command_type}`'s limit of {max} bytes"
                )),
                Some(_) => {}
            }
        }
        refusals
    }
}

fn nonzero(limit: u32) -> Result<(), BudgetError> {
    if limit == 0 {
        return Err(BudgetError::ZeroLimit);
    }
    at_most("limit", u64::from(limit), u64::from(MAX_LIMIT))
}

fn at_most(field: &'static str, value: u64, max: u64) -> Result<(), BudgetError> {
    if value > max {
        return Err(BudgetError::OverMaximum { field, max });
    }
    Ok(())
}

/// The three kinds of budget, as the API's paths and the store name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BudgetKind {
    Rate,
    Concurrency,
    Batch,
}

impl BudgetKind {
    pub const ALL: [BudgetKind; 3] = [Self::Rate, Self::Concurrency, Self::Batch];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rate => "rate",
            Self::Concurrency => "concurrency",
            Self::Batch => "batch",
        }
    }
}

impl std::str::FromStr for BudgetKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown budget kind `{s}`"))
    }
}

/// One budget or batch limit, as an operator sets it. It serializes as
/// its inner definition: the kind is stored and routed beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum BudgetDef {
    Rate(RateBudget),
    Concurrency(ConcurrencyBudget),
    /// Named by the command type it limits.
    Batch(BatchLimit),
}

impl BudgetDef {
    pub fn kind(&self) -> BudgetKind {
        match self {
            Self::Rate(_) => BudgetKind::Rate,
            Self::Concurrency(_) => BudgetKind::Concurrency,
            Self::Batch(_) => BudgetKind::Batch,
        }
    }

    /// Checks the definition and its name (a budget's name, or a batch
    /// limit's command type).
    pub fn check(&self, name: &str) -> Result<(), BudgetError> {
        check_id(
            if self.kind() == BudgetKind::Batch {
                "commandType"
            } else {
                "name"
            },
            name,
        )?;
        match self {
            Self::Rate(b) => b.check(),
            Self::Concurrency(b) => b.check(),
            Self::Batch(b) => b.check(),
        }
    }

    pub fn from_value(kind: BudgetKind, value: serde_json::Value) -> serde_json::Result<Self> {
        Ok(match kind {
            BudgetKind::Rate => Self::Rate(serde_json::from_value(value)?),
            BudgetKind::Concurrency => Self::Concurrency(serde_json::from_value(value)?),
            BudgetKind::Batch => Self::Batch(serde_json::from_value(value)?),
        })
    }
}

/// Every budget and batch limit in force, by name (batch limits by
/// command type). Part of the control snapshot, so it reaches every
/// replica as the stop does.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Budgets {
    pub rates: Vec<(String, RateBudget)>,
    pub concurrency: Vec<(String, ConcurrencyBudget)>,
    pub batches: HashMap<String, BatchLimit>,
}

/// A throttle in force: an unresolved breaker event whose rule's action
/// is `throttle`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveThrottle {
    pub event_id: i64,
    pub rule_name: String,
    pub spec: ThrottleSpec,
}

/// What a decision over a budget becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Overrun {
    /// A throttle: slowed down, not refused; retry after the reset.
    Throttled,
    /// A budget an operator set: refused.
    Denied,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimKind {
    /// Counted in sliding-window buckets ([`RateBuckets`]).
    Rate { window_ms: i64 },
    /// A lease, released by completion or after `lease_ttl_ms`.
    Concurrency { lease_ttl_ms: i64 },
}

/// One budget an autonomous decision draws on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The budget's row in the ledger: `rate:<name>`, `concurrency:<name>`
    /// or `throttle:<event id>`.
    pub ledger: String,
    pub kind: ClaimKind,
    pub limit: u32,
    pub overrun: Overrun,
    /// How the budget is named in a refusal, e.g. "rate budget `replays`
    /// (command:REPLAY_DLQ, 3 per 5m)".
    pub label: String,
}

/// The claim on a rate budget.
pub fn rate_claim(name: &str, b: &RateBudget) -> Claim {
    Claim {
        ledger: format!("rate:{name}"),
        kind: ClaimKind::Rate {
            window_ms: b.window.millis,
        },
        limit: b.limit,
        overrun: Overrun::Denied,
        label: format!(
            "rate budget `{name}` ({}, {} per {})",
            b.key, b.limit, b.window
        ),
    }
}

/// The claim on a concurrency budget.
pub fn concurrency_claim(name: &str, b: &ConcurrencyBudget) -> Claim {
    Claim {
        ledger: format!("concurrency:{name}"),
        kind: ClaimKind::Concurrency {
            lease_ttl_ms: b.lease_ttl.millis,
        },
        limit: b.limit,
        overrun: Overrun::Denied,
        label: format!(
            "concurrency budget `{name}` ({}, {} in flight)",
            b.key, b.limit
        ),
    }
}

/// The claim on a throttle.
pub fn throttle_claim(t: &ActiveThrottle) -> Claim {
    let what = t
        .spec
        .command_type
        .as_deref()
        .map_or("all commands".to_string(), |c| format!("`{c}`"));
    Claim {
        ledger: format!("throttle:{}", t.event_id),
        kind: ClaimKind::Rate {
            window_ms: t.spec.per.millis,
        },
        limit: t.spec.limit,
        overrun: Overrun::Throttled,
        label: format!(
            "the throttle of breaker `{}` (event {}, {} per {} for {what})",
            t.rule_name, t.event_id, t.spec.limit, t.spec.per
        ),
    }
}

/// The budgets a request draws on if it is granted autonomy.
pub fn claims(
    budgets: &Budgets,
    throttles: &[ActiveThrottle],
    command_type: &str,
    scope: Option<&str>,
    agent: Option<&str>,
) -> Vec<Claim> {
    let rates = budgets
        .rates
        .iter()
        .filter(|(_, b)| b.key.matches(command_type, scope, agent))
        .map(|(name, b)| rate_claim(name, b));
    let concurrency = budgets
        .concurrency
        .iter()
        .filter(|(_, b)| b.key.matches(command_type, scope, agent))
        .map(|(name, b)| concurrency_claim(name, b));
    let throttled = throttles
        .iter()
        .filter(|t| {
            t.spec
                .command_type
                .as_deref()
                .is_none_or(|c| c == command_type)
        })
        .map(throttle_claim);
    rates.chain(concurrency).chain(throttled).collect()
}

/// Rate budgets count in buckets of 1/60 of their window (at least 1 s),
/// so that a window of any size is a sum of at most 61 rows. A bucket
/// that overlaps the window counts whole: a budget may refill up to one
/// bucket late, never early, so it is never exceeded.
pub struct RateBuckets;

impl RateBuckets {
    pub fn width_ms(window_ms: i64) -> i64 {
        (window_ms / 60).max(1000)
    }

    /// The start of the bucket `at` falls in.
    pub fn start_of(at: Timestamp, window_ms: i64) -> i64 {
        let width = Self::width_ms(window_ms);
        at.millis().div_euclid(width) * width
    }

    /// Buckets starting after this still overlap the window ending `now`.
    pub fn counted_after(now: Timestamp, window_ms: i64) -> i64 {
        now.millis() - window_ms - Self::width_ms(window_ms)
    }

    /// When the oldest counted bucket leaves the window.
    pub fn frees_at(oldest_start_ms: i64, window_ms: i64) -> Timestamp {
        Timestamp(oldest_start_ms + Self::width_ms(window_ms) + window_ms)
    }
}

/// How much of a budget is taken, and when the next unit frees up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    pub used: u32,
    /// When one more unit is free again (the oldest use leaves the
    /// window, or the first lease expires); none when nothing is used.
    pub frees_at: Option<Timestamp>,
}

/// What settling did with one decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// Every claim fitted and is now taken.
    Granted,
    /// At least one claim did not fit: nothing was taken.
    Refused {
        overrun: Overrun,
        reasons: Vec<String>,
    },
}

/// Settles decisions in order against `usage` (by ledger), taking each
/// granted decision's claims. A decision is granted only if all its claims
/// fit, so a refused one takes nothing from any budget. A decision over
/// both a throttle and a budget is denied: the stronger brake names it.
pub fn settle(
    decisions: &[&[Claim]],
    usage: &mut HashMap<String, Usage>,
    now: Timestamp,
) -> Vec<Settled> {
    decisions
        .iter()
        .map(|claims| {
            let over: Vec<&Claim> = claims
                .iter()
                .filter(|c| usage.get(&c.ledger).copied().unwrap_or_default().used >= c.limit)
                .collect();
            if let Some(overrun) = over.iter().map(|c| c.overrun).max() {
                let reasons = over
                    .iter()
                    .map(|c| {
                        let u = usage.get(&c.ledger).copied().unwrap_or_default();
                        refusal(c, u)
                    })
                    .collect();
                return Settled::Refused { overrun, reasons };
            }
            for c in claims.iter() {
                let u = usage.entry(c.ledger.clone()).or_default();
                u.used += 1;
                let frees = match c.kind {
                    ClaimKind::Rate { window_ms } => {
                        RateBuckets::frees_at(RateBuckets::start_of(now, window_ms), window_ms)
                    }
                    ClaimKind::Concurrency { lease_ttl_ms } => {
                        Timestamp(now.millis() + lease_ttl_ms)
                    }
                };
                u.frees_at = Some(u.frees_at.map_or(frees, |f| f.min(frees)));
            }
            Settled::Granted
        })
        .collect()
}

fn refusal(claim: &Claim, usage: Usage) -> String {
    let when = usage
        .frees_at
        .map_or_else(|| "unknown".to_string(), |t| t.to_string());
    match (claim.overrun, claim.kind) {
        (Overrun::Throttled, _) => format!(
            "throttled by {}: {} used; it resets at {when}",
            claim.label, usage.used
        ),
        (Overrun::Denied, ClaimKind::Rate { .. }) => format!(
            "{} is used up ({} of {}); it refills at {when}",
            claim.label, usage.used, claim.limit
        ),
        (Overrun::Denied, ClaimKind::Concurrency { .. }) => format!(
            "{} is full ({} of {}); a lease frees at {when} at the latest, or when a decision is completed",
            claim.label, usage.used, claim.limit
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(name: &str, key: &str, limit: u32) -> (String, RateBudget) {
        (
            name.into(),
            RateBudget {
                key: BudgetKey::parse(key).unwrap(),
                limit,
                window: Window::parse("5m").unwrap(),
            },
        )
    }

    #[test]
    fn keys_parse_print_and_match() {
        for text in [
            "all",
            "command:REPLAY_DLQ",
            "scope:portal:carrier",
            "agent:a-1",
        ] {
            assert_eq!(BudgetKey::parse(text).unwrap().to_string(), text);
        }
        for bad in ["", "any", "command:", "team:x", "command: "] {
            assert!(BudgetKey::parse(bad).is_err(), "{bad}");
        }
        let scope = BudgetKey::parse("scope:portal:carrier").unwrap();
        assert!(scope.matches("X", Some("portal:carrier"), None));
        assert!(!scope.matches("X", Some("portal:other"), None));
        assert!(!scope.matches("X", None, None));
        assert!(BudgetKey::All.matches("X", None, None));
    }

    #[test]
    fn only_matching_budgets_and_throttles_are_claimed() {
        let budgets = Budgets {
            rates: vec![
                rate("replays", "command:REPLAY_DLQ", 3),
                rate("fleet", "all", 100),
            ],
            ..Default::default()
        };
        let throttle = ActiveThrottle {
            event_id: 7,
            rule_name: "slow".into(),
            spec: ThrottleSpec {
                limit: 2,
                per: Window::parse("1m").unwrap(),
                command_type: Some("SET_FAN".into()),
            },
        };
        let replay = claims(
            &budgets,
            std::slice::from_ref(&throttle),
            "REPLAY_DLQ",
            None,
            None,
        );
        assert_eq!(
            replay.iter().map(|c| c.ledger.as_str()).collect::<Vec<_>>(),
            ["rate:replays", "rate:fleet"]
        );
        let fan = claims(&budgets, &[throttle], "SET_FAN", None, None);
        assert_eq!(
            fan.iter().map(|c| c.ledger.as_str()).collect::<Vec<_>>(),
            ["rate:fleet", "throttle:7"]
        );
    }

    #[test]
    fn settling_grants_exactly_the_limit_and_refused_decisions_take_nothing() {
        let budgets = Budgets {
            rates: vec![
                rate("replays", "command:REPLAY_DLQ", 3),
                rate("fleet", "all", 4),
            ],
            ..Default::default()
        };
        let now = Timestamp(1_000_000);
        let replay = claims(&budgets, &[], "REPLAY_DLQ", None, None);
        let other = claims(&budgets, &[], "SET_FAN", None, None);
        let batch: Vec<&[Claim]> = vec![&replay, &replay, &replay, &replay, &other, &other];
        let mut usage = HashMap::new();
        let settled = settle(&batch, &mut usage, now);
        let granted: Vec<bool> = settled.iter().map(|s| *s == Settled::Granted).collect();
        // The fourth replay is over `replays` and takes nothing from
        // `fleet`, which leaves room for one SET_FAN, not two.
        assert_eq!(granted, [true, true, true, false, true, false]);
        assert_eq!(usage["rate:replays"].used, 3);
        assert_eq!(usage["rate:fleet"].used, 4);
        let Settled::Refused { overrun, reasons } = &settled[3] else {
            panic!("not refused")
        };
        assert_eq!(*overrun, Overrun::Denied);
        assert!(reasons[0].contains("rate budget `replays`"), "{reasons:?}");
        assert!(reasons[0].contains("refills at"), "{reasons:?}");
    }

    #[test]
    fn a_throttle_alone_throttles_but_a_budget_with_it_denies() {
        let budgets = Budgets {
            rates: vec![rate("fleet", "all", 1)],
            ..Default::default()
        };
        let throttle = ActiveThrottle {
            event_id: 1,
            rule_name: "slo".into(),
            spec: ThrottleSpec {
                limit: 1,
                per: Window::parse("1m").unwrap(),
                command_type: None,
            },
        };
        let c = claims(
            &Budgets::default(),
            std::slice::from_ref(&throttle),
            "X",
            None,
            None,
        );
        let mut usage = HashMap::new();
        let s = settle(&[&c, &c], &mut usage, Timestamp(0));
        assert!(
            matches!(&s[1], Settled::Refused { overrun: Overrun::Throttled, reasons } if reasons[0].contains("resets at"))
        );
        let both = claims(&budgets, &[throttle], "X", None, None);
        let mut usage = HashMap::new();
        let s = settle(&[&both, &both], &mut usage, Timestamp(0));
        assert!(
            matches!(&s[1], Settled::Refused { overrun: Overrun::Denied, reasons } if reasons.len() == 2)
        );
    }

    #[test]
    fn buckets_never_refill_early() {
        let window = 300_000;
        assert_eq!(RateBuckets::width_ms(window), 5_000);
        assert_eq!(RateBuckets::width_ms(10_000), 1_000);
        let used_at = Timestamp(1_002_000);
        let start = RateBuckets::start_of(used_at, window);
        assert_eq!(start, 1_000_000);
        // Still counted while any part of the bucket is in the window.
        let frees = RateBuckets::frees_at(start, window);
        assert!(frees.millis() >= used_at.millis() + window);
        assert!(start > RateBuckets::counted_after(Timestamp(frees.millis() - 1), window));
    }

    #[test]
    fn batch_limits_refuse_missing_and_oversized_fields() {
        let limit = BatchLimit {
            max_batch: Some(50),
            max_payload_bytes: Some(2_000_000),
        };
        assert!(limit
            .refusals("REPLAY_DLQ", Some(50), Some(2_000_000))
            .is_empty());
        assert_eq!(limit.refusals("REPLAY_DLQ", Some(51), Some(1)).len(), 1);
        let missing = limit.refusals("REPLAY_DLQ", None, None);
        assert_eq!(missing.len(), 2);
        assert!(missing[0].contains("`batchSize` is required"));
        assert!(BatchLimit {
            max_batch: None,
            max_payload_bytes: None
        }
        .check()
        .is_err());
    }
}
