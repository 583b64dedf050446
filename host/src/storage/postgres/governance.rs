//! The program's state, proposals and cycle reports: the port of
//! `storage/sqlite/governance.rs`. Every read that decides a change runs
//! inside the change's unit of work, under the writer lock, so the checks
//! hold across replicas as they do under SQLite's single writer.

use deadpool_postgres::GenericClient;

use super::{from_json, json_value, pg, to_json, PostgresStore, StorageError, UnitOfWork};
use crate::domain::breaker::BreakerRule;
use crate::domain::governance::{
    phase_change, Approval, GovernanceReport, Proposal, ProposalStatus, Rejection,
};
use crate::domain::{Phase, Timestamp};
use crate::storage::repositories::*;

/// SQLite's message for a second pending proposal, kept so both backends
/// answer the same.
const ALREADY_PENDING: &str = "a proposal is already pending";

pub(super) async fn read_state<C: GenericClient>(c: &C) -> Result<StateRow, StorageError> {
    let row = c
        .query_opt(
            "SELECT phase, phase_started_ms, whitelist, last_report_ms, emergency_stop
             FROM governance_state WHERE id = 1",
            &[],
        )
        .await
        .map_err(pg("read the governance state"))?
        .ok_or_else(|| StorageError::NotFound("the governance state is not initialized".into()))?;
    Ok(StateRow {
        phase: row
            .get::<_, &str>(0)
            .parse()
            .map_err(|message| StorageError::Corrupt {
                table: "governance_state",
                message,
            })?,
        phase_started_at: Timestamp(row.get(1)),
        whitelist: from_json("governance_state", row.get(2))?,
        last_report_at: row.get::<_, Option<i64>>(3).map(Timestamp),
        emergency_stop: row.get(4),
    })
}

fn state_json(s: &StateRow) -> serde_json::Value {
    serde_json::json!({"phase": s.phase, "phaseStartedAt": s.phase_started_at, "whitelist": s.whitelist})
}

/// Moves the phase inside `tx`, auditing before and after.
pub(super) async fn write_phase(
    tx: &UnitOfWork<'_>,
    phase: Phase,
    started: Timestamp,
    whitelist: &[String],
    actor: &str,
    action: &str,
    now: Timestamp,
) -> Result<StateRow, StorageError> {
    let before = read_state(&**tx).await?;
    tx.execute(
        "UPDATE governance_state SET phase = $1, phase_started_ms = $2, whitelist = $3 WHERE id = 1",
        &[&phase.as_str(), &started.millis(), &to_json(&whitelist)?],
    )
    .await
    .map_err(pg("move the phase"))?;
    let after = read_state(&**tx).await?;
    tx.audit(
        now,
        NewAudit {
            actor,
            action,
            target: "governance_state".into(),
            before: Some(state_json(&before)),
            after: Some(state_json(&after)),
        },
    )
    .await?;
    Ok(after)
}

/// Cancels every pending proposal inside `tx`; returns their ids.
pub(super) async fn cancel_pending(
    tx: &UnitOfWork<'_>,
    actor: &str,
    why: &str,
    now: Timestamp,
) -> Result<Vec<i64>, StorageError> {
    let pending = tx
        .query(
            "SELECT id, body FROM proposals WHERE status = 'pending' ORDER BY id",
            &[],
        )
        .await
        .map_err(pg("read the pending proposals"))?;
    let mut ids = Vec::new();
    for row in pending {
        let id: i64 = row.get(0);
        let mut p: Proposal = from_json("proposals", row.get(1))?;
        p.status = ProposalStatus::Cancelled;
        p.decided_at = Some(now);
        tx.execute(
            "UPDATE proposals SET status = 'cancelled', body = $2 WHERE id = $1",
            &[&id, &to_json(&p)?],
        )
        .await
        .map_err(pg("cancel a proposal"))?;
        tx.audit(
            now,
            NewAudit {
                actor,
                action: "proposal.cancel",
                target: format!("proposal/{id}"),
                before: Some(serde_json::json!({"status": "pending"})),
                after: Some(serde_json::json!({"status": "cancelled", "why": why})),
            },
        )
        .await?;
        ids.push(id);
    }
    Ok(ids)
}

impl GovernanceRepository for PostgresStore {
    fn initialize(
        &self,
        rules: &[BreakerRule],
        initial: Option<InitialState<'_>>,
        now: Timestamp,
    ) -> Result<bool, StorageError> {
        self.write(async |tx| {
            let exists: bool = tx
                .query_one("SELECT count(*) > 0 FROM governance_state", &[])
                .await
                .map_err(pg("read the governance state"))?
                .get(0);
            if exists {
                return Ok(false);
            }
            let (phase, started, whitelist) = match &initial {
                Some(i) => (i.phase, i.started_at, i.whitelist),
                None => (Phase::L3, now, &[][..]),
            };
            tx.execute(
                "INSERT INTO governance_state (id, phase, phase_started_ms, whitelist) VALUES (1, $1, $2, $3)",
                &[&phase.as_str(), &started.millis(), &to_json(&whitelist)?],
            )
            .await
            .map_err(pg("initialize the governance state"))?;
            for (i, rule) in rules.iter().enumerate() {
                tx.execute(
                    "INSERT INTO breaker_rules (name, position, body) VALUES ($1, $2, $3)",
                    &[&rule.name, &(i as i64), &to_json(rule)?],
                )
                .await
                .map_err(pg("store a breaker rule"))?;
            }
            tx.audit(
                now,
                NewAudit {
                    actor: "regent",
                    action: "governance.initialize",
                    target: "governance_state".into(),
                    before: None,
                    after: Some(serde_json::json!({
                        "phase": phase,
                        "phaseStartedAt": started,
                        "whitelist": whitelist,
                        // A phase above L3 that no proposal granted: say where it came from.
                        "source": if initial.is_some() { "config: initial_phase" } else { "default" },
                        "rules": rules.iter().map(|r| &r.name).collect::<Vec<_>>(),
                    })),
                },
            )
            .await?;
            Ok(true)
        })
    }

    fn state(&self) -> Result<StateRow, StorageError> {
        self.read(async |c| read_state(c).await)
    }

    fn change_phase(
        &self,
        requested: Phase,
        started: Option<Timestamp>,
        by_admin: bool,
        whitelist: &[String],
        actor: &str,
        now: Timestamp,
    ) -> Result<StateRow, StorageError> {
        self.write(async |tx| {
            let current = read_state(&**tx).await?;
            let change = phase_change(current.phase, requested, started, by_admin, now)?;
            if change.cancels_pending {
                let why = format!("the phase was lowered to {} by {actor}", change.phase);
                cancel_pending(tx, actor, &why, now).await?;
            }
            write_phase(
                tx,
                change.phase,
                change.started_at,
                whitelist,
                actor,
                change.action,
                now,
            )
            .await
        })
    }

    fn store_report(&self, r: &mut GovernanceReport, actor: &str) -> Result<(), StorageError> {
        self.write(async |tx| {
            // The body records its own id, which only the insert assigns.
            r.id = tx
                .query_one(
                    "INSERT INTO governance_reports (at_ms, body) VALUES ($1, '{}') RETURNING id",
                    &[&r.generated_at.millis()],
                )
                .await
                .map_err(pg("store a report"))?
                .get(0);
            tx.execute(
                "UPDATE governance_reports SET body = $2 WHERE id = $1",
                &[&r.id, &to_json(&*r)?],
            )
            .await
            .map_err(pg("store a report"))?;
            tx.execute(
                "UPDATE governance_state SET last_report_ms = $1 WHERE id = 1",
                &[&r.generated_at.millis()],
            )
            .await
            .map_err(pg("record the last report"))?;
            tx.audit(
                r.generated_at,
                NewAudit {
                    actor,
                    action: "cycle.report",
                    target: format!("report/{}", r.id),
                    before: None,
                    after: Some(json_value(&r.decision)?),
                },
            )
            .await?;
            Ok(())
        })
    }

    fn reports(&self, limit: u32) -> Result<Vec<GovernanceReport>, StorageError> {
        self.read(async |c| {
            c.query(
                "SELECT body FROM governance_reports ORDER BY id DESC LIMIT $1",
                &[&i64::from(limit)],
            )
            .await
            .map_err(pg("read the reports"))?
            .iter()
            .map(|r| from_json("governance_reports", r.get(0)))
            .collect()
        })
    }

    fn report(&self, id: i64) -> Result<GovernanceReport, StorageError> {
        self.read(async |c| {
            let row = c
                .query_opt("SELECT body FROM governance_reports WHERE id = $1", &[&id])
                .await
                .map_err(pg("read a report"))?
                .ok_or_else(|| StorageError::NotFound(format!("no report with id {id}")))?;
            from_json("governance_reports", row.get(0))
        })
    }
}

impl ProposalRepository for PostgresStore {
    fn create_proposal(&self, p: &mut Proposal, actor: &str) -> Result<(), StorageError> {
        self.write(async |tx| {
            // Checked first under the writer lock, so the refusal carries
            // SQLite's message; the unique index still backs it.
            let pending: bool = tx
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM proposals WHERE status = 'pending')",
                    &[],
                )
                .await
                .map_err(pg("read the pending proposals"))?
                .get(0);
            if pending {
                return Err(StorageError::Conflict(ALREADY_PENDING.into()));
            }
            p.id = tx
                .query_one(
                    "INSERT INTO proposals (status, created_ms, body) VALUES ('pending', $1, '{}') RETURNING id",
                    &[&p.created_at.millis()],
                )
                .await
                .map_err(|e| match pg("create a proposal")(e) {
                    StorageError::Conflict(_) => StorageError::Conflict(ALREADY_PENDING.into()),
                    other => other,
                })?
                .get(0);
            tx.execute(
                "UPDATE proposals SET body = $2 WHERE id = $1",
                &[&p.id, &to_json(&*p)?],
            )
            .await
            .map_err(pg("create a proposal"))?;
            tx.audit(
                p.created_at,
                NewAudit {
                    actor,
                    action: "proposal.create",
                    target: format!("proposal/{}", p.id),
                    before: None,
                    after: Some(json_value(&*p)?),
                },
            )
            .await?;
            Ok(())
        })
    }

    fn proposal(&self, id: i64) -> Result<Proposal, StorageError> {
        self.read(async |c| proposal_in(c, id).await)
    }

    fn proposals(&self, all: bool) -> Result<Vec<Proposal>, StorageError> {
        self.read(async |c| {
            c.query(
                "SELECT body FROM proposals WHERE ($1 OR status = 'pending') ORDER BY id DESC LIMIT 1000",
                &[&all],
            )
            .await
            .map_err(pg("read the proposals"))?
            .iter()
            .map(|r| from_json("proposals", r.get(0)))
            .collect()
        })
    }

    fn approve_proposal(
        &self,
        id: i64,
        approval: Approval,
        held: bool,
        whitelist: &[String],
    ) -> Result<Proposal, StorageError> {
        let now = approval.at;
        let by = approval.by.clone();
        self.write(async |tx| {
            let mut p = proposal_in(&**tx, id).await?;
            let before = serde_json::json!({"status": p.status, "approvals": p.approvals.len()});
            let role = approval.role;
            let complete = p.approve(approval, held)?;
            save_proposal(tx, &p).await?;
            tx.audit(
                now,
                NewAudit {
                    actor: &by,
                    action: "proposal.approve",
                    target: format!("proposal/{id}"),
                    before: Some(before),
                    after: Some(serde_json::json!({"status": p.status, "role": role, "approvals": p.approvals.len()})),
                },
            )
            .await?;
            if complete {
                let current = read_state(&**tx).await?;
                if current.phase != p.from_phase {
                    return Err(StorageError::Conflict(format!(
                        "the phase is {} but proposal {id} expands from {}",
                        current.phase, p.from_phase
                    )));
                }
                write_phase(tx, p.target_phase, now, whitelist, &by, "phase.expand", now).await?;
            }
            Ok(p)
        })
    }

    fn reject_proposal(
        &self,
        id: i64,
        rejection: Rejection,
        held: bool,
    ) -> Result<Proposal, StorageError> {
        let (now, by) = (rejection.at, rejection.by.clone());
        self.write(async |tx| {
            let mut p = proposal_in(&**tx, id).await?;
            p.reject(rejection, held)?;
            save_proposal(tx, &p).await?;
            tx.audit(
                now,
                NewAudit {
                    actor: &by,
                    action: "proposal.reject",
                    target: format!("proposal/{id}"),
                    before: Some(serde_json::json!({"status": "pending"})),
                    after: Some(json_value(&p.rejection)?),
                },
            )
            .await?;
            Ok(p)
        })
    }
}

async fn proposal_in<C: GenericClient>(c: &C, id: i64) -> Result<Proposal, StorageError> {
    let row = c
        .query_opt("SELECT body FROM proposals WHERE id = $1", &[&id])
        .await
        .map_err(pg("read a proposal"))?
        .ok_or_else(|| StorageError::NotFound(format!("no proposal with id {id}")))?;
    from_json("proposals", row.get(0))
}

async fn save_proposal(tx: &UnitOfWork<'_>, p: &Proposal) -> Result<(), StorageError> {
    tx.execute(
        "UPDATE proposals SET status = $2, body = $3 WHERE id = $1",
        &[&p.id, &p.status.as_str(), &to_json(p)?],
    )
    .await
    .map_err(pg("save a proposal"))?;
    Ok(())
}
