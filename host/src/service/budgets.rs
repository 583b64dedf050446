//! Budgets: operators set rate and concurrency budgets and batch limits;
//! the governed system completes the decisions it was granted, releasing
//! their leases. The budgets themselves are enforced by the decision log
//! ([`super::control`]), which settles every autonomous decision against
//! them.

use std::sync::Arc;

use serde::Serialize;

use super::{ServiceError, ServiceResult};
use crate::domain::auth::{Principal, Role};
use crate::domain::breaker::{ThrottleSpec, Window};
use crate::domain::budget::{
    concurrency_claim, rate_claim, throttle_claim, BatchLimit, BudgetDef, BudgetKey, BudgetKind,
    Claim, ConcurrencyBudget, RateBudget, Usage,
};
use crate::domain::control::Decision;
use crate::domain::Timestamp;
use crate::storage::prelude::*;

/// A rate budget and how much of it is used.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RateBudgetStatus {
    pub name: String,
    pub key: BudgetKey,
    pub limit: u32,
    pub window: Window,
    /// Autonomous decisions counted in the window.
    pub used: u32,
    /// When one more is free again; none when nothing is used.
    pub refills_at: Option<Timestamp>,
}

/// A concurrency budget and its leases in flight.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConcurrencyBudgetStatus {
    pub name: String,
    pub key: BudgetKey,
    pub limit: u32,
    pub lease_ttl: Window,
    /// Leases neither completed nor expired.
    pub in_flight: u32,
    /// When the first lease expires, unless completed sooner.
    pub frees_at: Option<Timestamp>,
}

/// A command type's batch limit.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchLimitStatus {
    pub command_type: String,
    pub max_batch: Option<u32>,
    pub max_payload_bytes: Option<u64>,
}

/// A throttle in force: a tripped `throttle` breaker, until its event is
/// resolved.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ThrottleStatus {
    pub event_id: i64,
    pub rule_name: String,
    #[serde(flatten)]
    pub spec: ThrottleSpec,
    pub used: u32,
    pub resets_at: Option<Timestamp>,
}

/// What completing a decision released.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompletionReply {
    pub decision_id: i64,
    /// Concurrency leases released; zero when it held none, was completed
    /// before, or its leases expired.
    pub released: u32,
}

/// Every budget's use at once, for `/metrics` and the console.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BudgetOverview {
    pub rates: Vec<RateBudgetStatus>,
    pub concurrency: Vec<ConcurrencyBudgetStatus>,
    pub batches: Vec<BatchLimitStatus>,
    pub throttles: Vec<ThrottleStatus>,
}

pub struct BudgetService {
    db: Arc<dyn Store>,
}

impl BudgetService {
    pub fn new(db: Arc<dyn Store>) -> Self {
        Self { db }
    }

    /// Every budget, batch limit and throttle in force, with its use now.
    /// Definitions come from the store, not this replica's snapshot, so a
    /// change made on another replica shows at once.
    pub fn overview(&self, now: Timestamp) -> ServiceResult<BudgetOverview> {
        let defs = self.db.budgets()?;
        let throttles = self.db.control().throttles.clone();
        let mut claims: Vec<Claim> = Vec::new();
        for (_, name, def) in &defs {
            match def {
                BudgetDef::Rate(b) => claims.push(rate_claim(name, b)),
                BudgetDef::Concurrency(b) => claims.push(concurrency_claim(name, b)),
                BudgetDef::Batch(_) => {}
            }
        }
        claims.extend(throttles.iter().map(throttle_claim));
        let usage = self.db.budget_usage(&claims, now)?;
        let used = |ledger: &str| usage.get(ledger).copied().unwrap_or_default();
        let mut overview = BudgetOverview::default();
        for (_, name, def) in defs {
            match def {
                BudgetDef::Rate(b) => {
                    let Usage { used, frees_at } = used(&rate_claim(&name, &b).ledger);
                    overview.rates.push(RateBudgetStatus {
                        name,
                        key: b.key,
                        limit: b.limit,
                        window: b.window,
                        used,
                        refills_at: frees_at,
                    });
                }
                BudgetDef::Concurrency(b) => {
                    let Usage { used, frees_at } = used(&concurrency_claim(&name, &b).ledger);
                    overview.concurrency.push(ConcurrencyBudgetStatus {
                        name,
                        key: b.key,
                        limit: b.limit,
                        lease_ttl: b.lease_ttl,
                        in_flight: used,
                        frees_at,
                    });
                }
                BudgetDef::Batch(b) => overview.batches.push(BatchLimitStatus {
                    command_type: name,
                    max_batch: b.max_batch,
                    max_payload_bytes: b.max_payload_bytes,
                }),
            }
        }
        for t in throttles.iter() {
            let Usage { used, frees_at } = used(&throttle_claim(t).ledger);
            overview.throttles.push(ThrottleStatus {
                event_id: t.event_id,
                rule_name: t.rule_name.clone(),
                spec: t.spec.clone(),
                used,
                resets_at: frees_at,
            });
        }
        Ok(overview)
    }

    pub fn put_rate(
        &self,
        name: &str,
        budget: RateBudget,
        who: &Principal,
        now: Timestamp,
    ) -> ServiceResult<RateBudgetStatus> {
        self.put(name, BudgetDef::Rate(budget), who, now)?;
        self.overview(now)?
            .rates
            .into_iter()
            .find(|b| b.name == name)
            .ok_or_else(|| gone(BudgetKind::Rate, name))
    }

    pub fn put_concurrency(
        &self,
        name: &str,
        budget: ConcurrencyBudget,
        who: &Principal,
        now: Timestamp,
    ) -> ServiceResult<ConcurrencyBudgetStatus> {
        self.put(name, BudgetDef::Concurrency(budget), who, now)?;
        self.overview(now)?
            .concurrency
            .into_iter()
            .find(|b| b.name == name)
            .ok_or_else(|| gone(BudgetKind::Concurrency, name))
    }

    pub fn put_batch(
        &self,
        command_type: &str,
        limit: BatchLimit,
        who: &Principal,
        now: Timestamp,
    ) -> ServiceResult<BatchLimitStatus> {
        self.put(command_type, BudgetDef::Batch(limit.clone()), who, now)?;
        Ok(BatchLimitStatus {
            command_type: command_type.to_string(),
            max_batch: limit.max_batch,
            max_payload_bytes: limit.max_payload_bytes,
        })
    }

    fn put(
        &self,
        name: &str,
        def: BudgetDef,
        who: &Principal,
        now: Timestamp,
    ) -> ServiceResult<()> {
        refuse_governed(who)?;
        def.check(name)
            .map_err(|e| ServiceError::BadRequest(e.to_string()))?;
        self.db.put_budget(name, &def, &who.id, now)?;
        Ok(())
    }

    pub fn delete(
        &self,
        kind: BudgetKind,
        name: &str,
        who: &Principal,
        now: Timestamp,
    ) -> ServiceResult<()> {
        refuse_governed(who)?;
        self.db.delete_budget(kind, name, &who.id, now)?;
        Ok(())
    }

    /// Adds the configuration's budgets that the store lacks.
    pub fn seed(&self, budgets: &[(String, BudgetDef)], now: Timestamp) -> ServiceResult<usize> {
        let mut added = 0;
        for (name, def) in budgets {
            def.check(name).map_err(|e| {
                ServiceError::BadRequest(format!("budget `{name}` in the configuration: {e}"))
            })?;
            if self.db.seed_budget(name, def, now)? {
                added += 1;
            }
        }
        Ok(added)
    }

    /// Releases the leases of decision `id`. Only the caller it was
    /// granted to, or an operator, may complete it: no one else can free
    /// room in a budget on the governed system's behalf.
    pub fn complete(
        &self,
        decision_id: i64,
        who: &Principal,
        now: Timestamp,
    ) -> ServiceResult<CompletionReply> {
        let (caller, decision) = self
            .db
            .decision_caller(decision_id)?
            .ok_or_else(|| ServiceError::NotFound(format!("no decision {decision_id}")))?;
        if caller != who.id && (who.is_governed() || !who.holds(Role::Operator)) {
            return Err(ServiceError::Forbidden(format!(
                "decision {decision_id} was granted to `{caller}`: only it or an operator may complete it"
            )));
        }
        let released = if decision == Decision::Autonomous {
            self.db.release_leases(decision_id, now)?
        } else {
            0
        };
        Ok(CompletionReply {
            decision_id,
            released,
        })
    }
}

/// The governed system cannot loosen its own budgets, whatever else its
/// token holds.
fn refuse_governed(who: &Principal) -> ServiceResult<()> {
    if who.is_governed() {
        return Err(ServiceError::Forbidden(format!(
            "`{}` speaks for the governed system (a reporter, or bound to an agent) and cannot change budgets",
            who.id
        )));
    }
    Ok(())
}

fn gone(kind: BudgetKind, name: &str) -> ServiceError {
    ServiceError::Conflict(format!(
        "{} budget `{name}` was removed as it was saved",
        kind.as_str()
    ))
}
