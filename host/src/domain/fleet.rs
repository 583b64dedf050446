//! Agents, their budgets and their own circuit breakers, and the records
//! of tasks assigned to them.

use serde::{Deserialize, Serialize};

use super::matching::{Candidate, ExclusionReason, Ranking};
use super::text::{check_id, TextError};
use super::Timestamp;

/// The matching policy: the seed's production defaults unless configured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", default, deny_unknown_fields)]
pub struct MatchingPolicy {
    /// The plugin that ranks candidates.
    pub matcher: String,
    pub min_capability_match: f64,
    /// The cost-per-hour cap used when a request gives no `maxCost`.
    pub max_cost_per_task: f64,
    /// Failures (since the last reset) that trip an agent's breaker.
    pub failure_threshold: u32,
}

impl Default for MatchingPolicy {
    fn default() -> Self {
        Self {
            matcher: "capability-match".into(),
            min_capability_match: 0.7,
            max_cost_per_task: 10.0,
            failure_threshold: 3,
        }
    }
}

impl MatchingPolicy {
    pub fn check(&self) -> Result<(), FleetError> {
        if !(0.0..=1.0).contains(&self.min_capability_match) {
            return Err(FleetError::PolicyMinCapabilityMatch);
        }
        if !(self.max_cost_per_task.is_finite() && self.max_cost_per_task > 0.0) {
            return Err(FleetError::PolicyMaxCostPerTask);
        }
        if self.failure_threshold == 0 {
            return Err(FleetError::PolicyFailureThreshold);
        }
        Ok(())
    }
}

/// Why an agent, a cost, an assignment request or the matching policy was
/// refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum FleetError {
    #[error(transparent)]
    Text(#[from] TextError),
    #[error("matching.min_capability_match must be within 0..=1")]
    PolicyMinCapabilityMatch,
    #[error("matching.max_cost_per_task must be a positive number")]
    PolicyMaxCostPerTask,
    #[error("matching.failure_threshold must be at least 1")]
    PolicyFailureThreshold,
    #[error("`{field}` must be a positive number, got {value}")]
    NotPositive { field: String, value: f64 },
    #[error("{field}: `{capability}` is not a capability in `category:skill` form (e.g. `integration:sip`)")]
    NotACapability { field: String, capability: String },
    #[error("`breakers` cannot be an agent id: it is the path of the tripped-breakers listing")]
    ReservedAgentId,
    #[error("`capabilities` is empty: an agent with none can never be matched")]
    NoCapabilities,
    #[error("{field}: `{capability}` is listed twice")]
    CapabilityTwice { field: String, capability: String },
    #[error("`reputation` must be within 0..=1, got {0}")]
    ReputationOutOfRange(f64),
    #[error("`cost` must be a finite number >= 0, got {0}")]
    NegativeCost(f64),
    #[error("`requiredCapabilities` is empty")]
    NoRequiredCapabilities,
}

#[derive(Debug, Clone, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewAgent {
    #[schema(schema_with = super::text::id)]
    pub id: String,
    /// `category:skill`, e.g. `integration:sip`.
    #[schema(schema_with = super::text::capability_set)]
    pub capabilities: Vec<String>,
    #[schema(exclusive_minimum = 0)]
    pub cost_per_hour: f64,
    /// 0..=1, e.g. the agent's SLO compliance.
    #[schema(minimum = 0, maximum = 1)]
    pub reputation: f64,
    /// The budget the agent starts with.
    #[schema(exclusive_minimum = 0)]
    pub budget: f64,
    #[serde(default)]
    #[schema(schema_with = super::text::optional_id)]
    pub model: Option<String>,
}

pub fn positive(field: &str, value: f64) -> Result<(), FleetError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(FleetError::NotPositive {
            field: field.to_string(),
            value,
        })
    }
}

pub fn check_capability(field: &str, c: &str) -> Result<(), FleetError> {
    match c.split_once(':') {
        Some((category, skill))
            if !category.trim().is_empty()
                && !skill.trim().is_empty()
                && !skill.contains(':')
                && super::text::char_len(c) <= 100
                && !c.chars().any(char::is_whitespace) =>
        {
            Ok(())
        }
        _ => Err(FleetError::NotACapability {
            field: field.to_string(),
            capability: c.to_string(),
        }),
    }
}

impl NewAgent {
    pub fn check(&self) -> Result<(), FleetError> {
        check_id("id", &self.id)?;
        if self.id == "breakers" {
            return Err(FleetError::ReservedAgentId);
        }
        if self.capabilities.is_empty() {
            return Err(FleetError::NoCapabilities);
        }
        for (i, c) in self.capabilities.iter().enumerate() {
            check_capability(&format!("capabilities[{i}]"), c)?;
            if self.capabilities[..i].contains(c) {
                return Err(FleetError::CapabilityTwice {
                    field: format!("capabilities[{i}]"),
                    capability: c.clone(),
                });
            }
        }
        positive("costPerHour", self.cost_per_hour)?;
        if !(0.0..=1.0).contains(&self.reputation) {
            return Err(FleetError::ReputationOutOfRange(self.reputation));
        }
        positive("budget", self.budget)?;
        if let Some(m) = &self.model {
            check_id("model", m)?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentBreaker {
    pub tripped: bool,
    /// `budget_exhausted`, `repeated_failures`, or an operator's words.
    pub reason: Option<String>,
    pub tripped_at: Option<Timestamp>,
    pub tripped_by: Option<String>,
    /// Failures since the breaker was last reset.
    pub failures: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Agent {
    pub id: String,
    pub capabilities: Vec<String>,
    pub cost_per_hour: f64,
    pub reputation: f64,
    /// The budget last granted: at registration or at a reset.
    pub budget: f64,
    pub budget_remaining: f64,
    pub total_cost: f64,
    pub model: Option<String>,
    pub registered_at: Timestamp,
    pub breaker: AgentBreaker,
}

impl Agent {
    pub fn candidate(&self) -> Candidate {
        Candidate {
            id: self.id.clone(),
            capabilities: self.capabilities.clone(),
            cost_per_hour: self.cost_per_hour,
            reputation: self.reputation,
            budget_remaining: self.budget_remaining,
            breaker_tripped: self.breaker.tripped,
        }
    }
}

/// Why an agent's breaker tripped by itself.
pub const BUDGET_EXHAUSTED: &str = "budget_exhausted";
pub const REPEATED_FAILURES: &str = "repeated_failures";

#[derive(Debug, Clone, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CostReport {
    #[schema(schema_with = super::text::id)]
    pub operation: String,
    #[schema(minimum = 0)]
    pub cost: f64,
}

impl CostReport {
    pub fn check(&self) -> Result<(), FleetError> {
        check_id("operation", &self.operation)?;
        if !self.cost.is_finite() || self.cost < 0.0 {
            return Err(FleetError::NegativeCost(self.cost));
        }
        Ok(())
    }
}

/// What a cost or a failure did to the agent.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentUpdate {
    pub agent: Agent,
    /// Set when this very report tripped the breaker.
    pub tripped: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AssignRequest {
    #[schema(schema_with = super::text::id)]
    pub task_id: String,
    #[schema(schema_with = super::text::capability_list)]
    pub required_capabilities: Vec<String>,
    /// The highest cost per hour this task may use; the policy's
    /// `max_cost_per_task` when absent.
    #[serde(default)]
    #[schema(exclusive_minimum = 0)]
    pub max_cost: Option<f64>,
}

impl AssignRequest {
    pub fn check(&self) -> Result<(), FleetError> {
        check_id("taskId", &self.task_id)?;
        if self.required_capabilities.is_empty() {
            return Err(FleetError::NoRequiredCapabilities);
        }
        for (i, c) in self.required_capabilities.iter().enumerate() {
            check_capability(&format!("requiredCapabilities[{i}]"), c)?;
        }
        if let Some(m) = self.max_cost {
            positive("maxCost", m)?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScoredCandidate {
    pub agent_id: String,
    #[serde(rename = "match")]
    pub capability_match: f64,
    pub score: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExcludedAgent {
    pub agent_id: String,
    pub reason: ExclusionReason,
    /// The reason with its numbers, e.g. `cost 15.00/h > max 10.00/h`.
    pub detail: String,
}

/// At most this many exclusions are listed; the counts cover them all.
/// Over thousands of agents most share no capability with the task, and
/// listing each would make every reply megabytes long.
pub const LISTED_EXCLUSIONS: usize = 100;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Assignment {
    pub id: i64,
    pub task_id: String,
    pub agent_id: Option<String>,
    /// The winner's score; `null` when no agent qualified.
    pub score: Option<f64>,
    /// Qualified agents, best first.
    pub candidates: Vec<ScoredCandidate>,
    /// Excluded agents that share at least one capability with the task,
    /// closest match first (at most 100).
    pub excluded: Vec<ExcludedAgent>,
    /// Every exclusion counted by reason, including those not listed.
    pub excluded_counts: std::collections::BTreeMap<String, u64>,
    pub matcher: String,
    pub matcher_version: String,
    pub max_cost: f64,
    pub required_capabilities: Vec<String>,
    pub assigned_at: Timestamp,
    pub requested_by: String,
}

impl Assignment {
    /// Shapes a matcher's ranking into the reply and the stored record.
    pub fn from_ranking(
        request: &AssignRequest,
        max_cost: f64,
        ranking: Ranking,
        matcher: (&str, &str),
        requested_by: &str,
        now: Timestamp,
    ) -> Assignment {
        let candidates: Vec<ScoredCandidate> = ranking
            .ranked
            .into_iter()
            .map(|r| ScoredCandidate {
                agent_id: r.id,
                capability_match: r.capability_match,
                score: r.score,
            })
            .collect();
        let mut excluded_counts = std::collections::BTreeMap::new();
        let mut close: Vec<_> = Vec::new();
        for e in ranking.excluded {
            let key = serde_json::to_value(e.reason)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            *excluded_counts.entry(key).or_insert(0) += 1;
            if e.capability_match > 0.0 {
                close.push(e);
            }
        }
        close.sort_by(|a, b| b.capability_match.total_cmp(&a.capability_match));
        let excluded = close
            .into_iter()
            .take(LISTED_EXCLUSIONS)
            .map(|e| ExcludedAgent {
                agent_id: e.id,
                reason: e.reason,
                detail: e.detail.to_string(),
            })
            .collect();
        Assignment {
            id: 0,
            task_id: request.task_id.clone(),
            agent_id: candidates.first().map(|c| c.agent_id.clone()),
            score: candidates.first().map(|c| c.score),
            candidates,
            excluded,
            excluded_counts,
            matcher: matcher.0.to_string(),
            matcher_version: matcher.1.to_string(),
            max_cost,
            required_capabilities: request.required_capabilities.clone(),
            assigned_at: now,
            requested_by: requested_by.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent() -> NewAgent {
        NewAgent {
            id: "session-4-sip".into(),
            capabilities: vec!["integration:sip".into(), "integration:h323".into()],
            cost_per_hour: 15.0,
            reputation: 0.95,
            budget: 25.0,
            model: Some("sonnet".into()),
        }
    }

    #[test]
    fn agents_are_checked_field_by_field() {
        assert!(agent().check().is_ok());
        let bad = |f: fn(&mut NewAgent), needle: &str| {
            let mut a = agent();
            f(&mut a);
            let e = a.check().unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        };
        bad(|a| a.capabilities = vec!["sip".into()], "category:skill");
        bad(|a| a.capabilities = vec![], "is empty");
        bad(|a| a.capabilities.push("integration:sip".into()), "twice");
        bad(|a| a.cost_per_hour = 0.0, "costPerHour");
        bad(|a| a.reputation = 1.5, "reputation");
        bad(|a| a.budget = f64::NAN, "budget");
    }

    #[test]
    fn a_refused_field_is_a_typed_error_with_the_same_message() {
        let mut a = agent();
        a.id = " ".into();
        let e = a.check().unwrap_err();
        assert_eq!(e, FleetError::Text(TextError::Empty { field: "id".into() }));
        assert_eq!(e.to_string(), "`id` is empty");
        a.id = "breakers".into();
        assert_eq!(a.check(), Err(FleetError::ReservedAgentId));
    }

    #[test]
    fn negative_or_non_finite_costs_are_refused() {
        let cost = |c: f64| CostReport {
            operation: "op".into(),
            cost: c,
        };
        assert!(cost(-1.0).check().is_err());
        assert!(cost(f64::INFINITY).check().is_err());
        assert!(cost(0.0).check().is_ok());
        assert!(cost(2.5).check().is_ok());
    }
}
