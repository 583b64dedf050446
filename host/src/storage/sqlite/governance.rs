//! The program's state, stored metrics and assessments, proposals and
//! reports.

use rusqlite::{params, OptionalExtension, Transaction};

use super::{from_json, json_value, to_json, SqliteStore, StorageError, UnitOfWork};
use crate::domain::breaker::BreakerRule;
use crate::domain::governance::{
    phase_change, Approval, GovernanceReport, Proposal, ProposalStatus, Rejection,
};
use crate::domain::{Phase, Timestamp};
use crate::storage::repositories::*;

pub(super) fn read_state(tx: &rusqlite::Connection) -> Result<StateRow, StorageError> {
    let row: Option<(String, i64, String, Option<i64>, bool)> = tx
        .query_row(
            "SELECT phase, phase_started_ms, whitelist, last_report_ms, emergency_stop FROM governance_state WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()?;
    let (phase, started, whitelist, last_report, stop) = row
        .ok_or_else(|| StorageError::NotFound("the governance state is not initialized".into()))?;
    Ok(StateRow {
        phase: phase.parse().map_err(|message| StorageError::Corrupt {
            table: "governance_state",
            message,
        })?,
        phase_started_at: Timestamp(started),
        whitelist: from_json("governance_state", &whitelist)?,
        last_report_at: last_report.map(Timestamp),
        emergency_stop: stop,
    })
}

fn state_json(s: &StateRow) -> serde_json::Value {
    serde_json::json!({"phase": s.phase, "phaseStartedAt": s.phase_started_at, "whitelist": s.whitelist})
}

/// Moves the phase inside `tx`, auditing before and after.
pub(super) fn write_phase(
    tx: &UnitOfWork<'_>,
    phase: Phase,
    started: Timestamp,
    whitelist: &[String],
    actor: &str,
    action: &str,
    now: Timestamp,
) -> Result<StateRow, StorageError> {
    let before = read_state(tx)?;
    tx.execute(
        "UPDATE governance_state SET phase = ?1, phase_started_ms = ?2, whitelist = ?3 WHERE id = 1",
        params![phase.as_str(), started.millis(), to_json(&whitelist)?],
    )?;
    let after = read_state(tx)?;
    tx.audit(
        now,
        NewAudit {
            actor,
            action,
            target: "governance_state".into(),
            before: Some(state_json(&before)),
            after: Some(state_json(&after)),
        },
    )?;
    Ok(after)
}

/// Cancels every pending proposal inside `tx`; returns their ids.
pub(super) fn cancel_pending(
    tx: &UnitOfWork<'_>,
    actor: &str,
    why: &str,
    now: Timestamp,
) -> Result<Vec<i64>, StorageError> {
    let pending: Vec<(i64, String)> = {
        let mut stmt = tx.prepare("SELECT id, body FROM proposals WHERE status = 'pending'")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    let mut ids = Vec::new();
    for (id, body) in pending {
        let mut p: Proposal = from_json("proposals", &body)?;
        p.status = ProposalStatus::Cancelled;
        p.decided_at = Some(now);
        tx.execute(
            "UPDATE proposals SET status = 'cancelled', body = ?2 WHERE id = ?1",
            params![id, to_json(&p)?],
        )?;
        tx.audit(
            now,
            NewAudit {
                actor,
                action: "proposal.cancel",
                target: format!("proposal/{id}"),
                before: Some(serde_json::json!({"status": "pending"})),
                after: Some(serde_json::json!({"status": "cancelled", "why": why})),
            },
        )?;
        ids.push(id);
    }
    Ok(ids)
}

impl GovernanceRepository for SqliteStore {
    fn initialize(
        &self,
        rules: &[BreakerRule],
        initial: Option<InitialState<'_>>,
        now: Timestamp,
    ) -> Result<bool, StorageError> {
        self.write(|tx| {
            let exists: bool = tx.query_row("SELECT count(*) > 0 FROM governance_state", [], |r| r.get(0))?;
            if exists {
                return Ok(false);
            }
            let (phase, started, whitelist) = match &initial {
                Some(i) => (i.phase, i.started_at, i.whitelist),
                None => (Phase::L3, now, &[][..]),
            };
            tx.execute(
                "INSERT INTO governance_state (id, phase, phase_started_ms, whitelist) VALUES (1, ?1, ?2, ?3)",
                params![phase.as_str(), started.millis(), to_json(&whitelist)?],
            )?;
            for (i, rule) in rules.iter().enumerate() {
                tx.execute(
                    "INSERT INTO breaker_rules (name, position, body) VALUES (?1, ?2, ?3)",
                    params![rule.name, i as i64, to_json(rule)?],
                )?;
            }
            tx.audit(now, NewAudit {
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
            })?;
            Ok(true)
        })
    }

    fn state(&self) -> Result<StateRow, StorageError> {
        read_state(&self.conn())
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
        self.write(|tx| {
            let current = read_state(tx)?;
            let change = phase_change(current.phase, requested, started, by_admin, now)?;
            if change.cancels_pending {
                let why = format!("the phase was lowered to {} by {actor}", change.phase);
                cancel_pending(tx, actor, &why, now)?;
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
        })
    }

    fn store_report(&self, r: &mut GovernanceReport, actor: &str) -> Result<(), StorageError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO governance_reports (at_ms, body) VALUES (?1, '{}')",
                [r.generated_at.millis()],
            )?;
            r.id = tx.last_insert_rowid();
            tx.execute(
                "UPDATE governance_reports SET body = ?2 WHERE id = ?1",
                params![r.id, to_json(r)?],
            )?;
            tx.execute(
                "UPDATE governance_state SET last_report_ms = ?1 WHERE id = 1",
                [r.generated_at.millis()],
            )?;
            tx.audit(
                r.generated_at,
                NewAudit {
                    actor,
                    action: "cycle.report",
                    target: format!("report/{}", r.id),
                    before: None,
                    after: Some(json_value(&r.decision)?),
                },
            )?;
            Ok(())
        })
    }

    fn reports(&self, limit: u32) -> Result<Vec<GovernanceReport>, StorageError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT body FROM governance_reports ORDER BY id DESC LIMIT ?1")?;
        let rows = stmt.query_map([limit], |r| r.get::<_, String>(0))?;
        rows.map(|b| from_json("governance_reports", &b?)).collect()
    }

    fn report(&self, id: i64) -> Result<GovernanceReport, StorageError> {
        let body: Option<String> = self
            .conn()
            .query_row(
                "SELECT body FROM governance_reports WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()?;
        let body = body.ok_or_else(|| StorageError::NotFound(format!("no report with id {id}")))?;
        from_json("governance_reports", &body)
    }
}

impl ProposalRepository for SqliteStore {
    fn create_proposal(&self, p: &mut Proposal, actor: &str) -> Result<(), StorageError> {
        self.write(|tx| {
            let inserted = tx.execute(
                "INSERT INTO proposals (status, created_ms, body) VALUES ('pending', ?1, '{}')",
                [p.created_at.millis()],
            );
            match inserted {
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    return Err(StorageError::Conflict(
                        "a proposal is already pending".into(),
                    ));
                }
                other => other?,
            };
            p.id = tx.last_insert_rowid();
            tx.execute(
                "UPDATE proposals SET body = ?2 WHERE id = ?1",
                params![p.id, to_json(p)?],
            )?;
            tx.audit(
                p.created_at,
                NewAudit {
                    actor,
                    action: "proposal.create",
                    target: format!("proposal/{}", p.id),
                    before: None,
                    after: Some(json_value(&*p)?),
                },
            )?;
            Ok(())
        })
    }

    fn proposal(&self, id: i64) -> Result<Proposal, StorageError> {
        let body: Option<String> = self
            .conn()
            .query_row("SELECT body FROM proposals WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?;
        let body =
            body.ok_or_else(|| StorageError::NotFound(format!("no proposal with id {id}")))?;
        from_json("proposals", &body)
    }

    fn proposals(&self, all: bool) -> Result<Vec<Proposal>, StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT body FROM proposals WHERE (?1 OR status = 'pending') ORDER BY id DESC LIMIT 1000",
        )?;
        let rows = stmt.query_map([all], |r| r.get::<_, String>(0))?;
        rows.map(|b| from_json("proposals", &b?)).collect()
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
        self.write(|tx| {
            let mut p = proposal_in(tx, id)?;
            let before = serde_json::json!({"status": p.status, "approvals": p.approvals.len()});
            let role = approval.role;
            let complete = p.approve(approval, held)?;
            save_proposal(tx, &p)?;
            tx.audit(now, NewAudit {
                actor: &by,
                action: "proposal.approve",
                target: format!("proposal/{id}"),
                before: Some(before),
                after: Some(serde_json::json!({"status": p.status, "role": role, "approvals": p.approvals.len()})),
            })?;
            if complete {
                let current = read_state(tx)?;
                if current.phase != p.from_phase {
                    return Err(StorageError::Conflict(format!(
                        "the phase is {} but proposal {id} expands from {}",
                        current.phase, p.from_phase
                    )));
                }
                write_phase(tx, p.target_phase, now, whitelist, &by, "phase.expand", now)?;
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
        self.write(|tx| {
            let mut p = proposal_in(tx, id)?;
            p.reject(rejection, held)?;
            save_proposal(tx, &p)?;
            tx.audit(
                now,
                NewAudit {
                    actor: &by,
                    action: "proposal.reject",
                    target: format!("proposal/{id}"),
                    before: Some(serde_json::json!({"status": "pending"})),
                    after: Some(json_value(&p.rejection)?),
                },
            )?;
            Ok(p)
        })
    }
}

fn proposal_in(tx: &Transaction<'_>, id: i64) -> Result<Proposal, StorageError> {
    let body: Option<String> = tx
        .query_row("SELECT body FROM proposals WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .optional()?;
    let body = body.ok_or_else(|| StorageError::NotFound(format!("no proposal with id {id}")))?;
    from_json("proposals", &body)
}

fn save_proposal(tx: &Transaction<'_>, p: &Proposal) -> Result<(), StorageError> {
    tx.execute(
        "UPDATE proposals SET status = ?2, body = ?3 WHERE id = ?1",
        params![p.id, p.status.as_str(), to_json(p)?],
    )?;
    Ok(())
}
