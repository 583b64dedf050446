//! Versioned migrations for PostgreSQL, applied at start under an advisory
//! lock so that replicas starting together never apply one twice.
//!
//! The tables mirror SQLite's (`storage/sqlite/schema.rs`) column for
//! column: times are milliseconds since the epoch (`BIGINT`), records are
//! JSON text, so both backends read and write the same shapes. The first
//! migration is SQLite's eight as they stand today; later ones are
//! appended here, never edited once released.

use deadpool_postgres::Object as Client;

use super::{pg, StorageError};

/// The session-level advisory lock held while migrating. Any 64-bit key
/// works as long as nothing else in the database uses it; this one spells
/// "regent:m" in ASCII.
const MIGRATION_LOCK: i64 = 0x7265_6765_6e74_3a6d;

pub(super) const MIGRATIONS: &[&str] = &[
    // 1: the schema as of SQLite's migration 8.
    "CREATE TABLE evaluations (
        id          BIGSERIAL PRIMARY KEY,
        at_ms       BIGINT NOT NULL,
        plugin      TEXT NOT NULL,
        version     TEXT NOT NULL,
        kind        TEXT NOT NULL,
        input       TEXT NOT NULL,
        output      TEXT,
        error_code  TEXT,
        error       TEXT,
        elapsed_us  BIGINT NOT NULL
    );
    CREATE INDEX evaluations_by_plugin ON evaluations (plugin, id);
    CREATE TABLE commands (
        id                TEXT PRIMARY KEY,
        command_type      TEXT NOT NULL,
        status            TEXT NOT NULL,
        required_approval BOOLEAN NOT NULL,
        autonomous        BOOLEAN NOT NULL,
        created_ms        BIGINT NOT NULL,
        duration_ms       BIGINT,
        error             TEXT,
        received_ms       BIGINT NOT NULL
    );
    CREATE INDEX commands_by_time ON commands (created_ms, status, required_approval, command_type);
    CREATE TABLE command_hours (
        hour_ms           BIGINT NOT NULL,
        status            TEXT NOT NULL,
        required_approval BOOLEAN NOT NULL,
        n                 BIGINT NOT NULL,
        PRIMARY KEY (hour_ms, status, required_approval)
    );
    CREATE TABLE command_type_totals (
        command_type TEXT NOT NULL,
        status       TEXT NOT NULL,
        n            BIGINT NOT NULL,
        PRIMARY KEY (command_type, status)
    );
    CREATE TABLE incidents (
        id           BIGSERIAL PRIMARY KEY,
        severity     TEXT NOT NULL,
        autonomous   BOOLEAN NOT NULL,
        command_type TEXT,
        description  TEXT NOT NULL,
        occurred_ms  BIGINT NOT NULL,
        reported_by  TEXT NOT NULL
    );
    CREATE INDEX incidents_by_time ON incidents (occurred_ms);
    CREATE TABLE gauges (
        name       TEXT PRIMARY KEY,
        value      DOUBLE PRECISION NOT NULL,
        updated_ms BIGINT NOT NULL
    );
    CREATE TABLE governance_state (
        id               BIGINT PRIMARY KEY CHECK (id = 1),
        phase            TEXT NOT NULL,
        phase_started_ms BIGINT NOT NULL,
        whitelist        TEXT NOT NULL,
        last_report_ms   BIGINT,
        emergency_stop   BOOLEAN NOT NULL DEFAULT FALSE
    );
    CREATE TABLE metrics_snapshots (
        id     BIGSERIAL PRIMARY KEY,
        at_ms  BIGINT NOT NULL,
        body   TEXT NOT NULL
    );
    CREATE TABLE readiness_assessments (
        id     BIGSERIAL PRIMARY KEY,
        at_ms  BIGINT NOT NULL,
        body   TEXT NOT NULL
    );
    CREATE TABLE breaker_rules (
        name     TEXT PRIMARY KEY,
        position BIGINT NOT NULL,
        body     TEXT NOT NULL
    );
    CREATE TABLE breaker_events (
        id           BIGSERIAL PRIMARY KEY,
        rule_name    TEXT NOT NULL,
        triggered_ms BIGINT NOT NULL,
        resolved_ms  BIGINT,
        body         TEXT NOT NULL
    );
    CREATE UNIQUE INDEX one_open_event_per_rule ON breaker_events (rule_name) WHERE resolved_ms IS NULL;
    CREATE TABLE proposals (
        id         BIGSERIAL PRIMARY KEY,
        status     TEXT NOT NULL,
        created_ms BIGINT NOT NULL,
        body       TEXT NOT NULL
    );
    CREATE UNIQUE INDEX one_pending_proposal ON proposals (status) WHERE status = 'pending';
    CREATE TABLE governance_reports (
        id     BIGSERIAL PRIMARY KEY,
        at_ms  BIGINT NOT NULL,
        body   TEXT NOT NULL
    );
    CREATE TABLE attestations (
        id           BIGSERIAL PRIMARY KEY,
        key          TEXT NOT NULL,
        attested_by  TEXT NOT NULL,
        token_id     BIGINT NOT NULL,
        role         TEXT NOT NULL,
        attested_ms  BIGINT NOT NULL,
        expires_ms   BIGINT,
        evidence_url TEXT,
        revoked_ms   BIGINT,
        revoked_by   TEXT
    );
    CREATE TABLE tokens (
        id         BIGSERIAL PRIMARY KEY,
        name       TEXT NOT NULL,
        roles      TEXT NOT NULL,
        hash       TEXT NOT NULL UNIQUE,
        created_ms BIGINT NOT NULL,
        revoked_ms BIGINT,
        principal  TEXT,
        kind       TEXT NOT NULL DEFAULT 'system' CHECK (kind IN ('person', 'system')),
        agent_id   TEXT
    );
    CREATE INDEX tokens_by_agent ON tokens (agent_id) WHERE agent_id IS NOT NULL;
    CREATE TABLE audit_log (
        id        BIGINT PRIMARY KEY,
        at_ms     BIGINT NOT NULL,
        actor     TEXT NOT NULL,
        action    TEXT NOT NULL,
        target    TEXT NOT NULL,
        before    TEXT,
        after     TEXT,
        prev_hash TEXT NOT NULL,
        hash      TEXT NOT NULL
    );
    -- The chain's head, so that deleting the newest entries is detected
    -- too. Seeded, so that appenders on every replica lock the same row.
    CREATE TABLE audit_head (
        id    BIGINT PRIMARY KEY CHECK (id = 1),
        last  BIGINT NOT NULL,
        hash  TEXT NOT NULL
    );
    INSERT INTO audit_head (id, last, hash)
        VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
    CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$;
    CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
        FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
    CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
    CREATE TABLE decisions (
        id           BIGSERIAL PRIMARY KEY,
        at_ms        BIGINT NOT NULL,
        command_type TEXT NOT NULL,
        workflow_id  TEXT,
        agent_id     TEXT,
        decision     TEXT NOT NULL,
        reasons      TEXT NOT NULL,
        phase        TEXT NOT NULL,
        caller       TEXT NOT NULL,
        unbound      BOOLEAN NOT NULL DEFAULT FALSE
    );
    CREATE INDEX decisions_by_type ON decisions (command_type, id);
    CREATE INDEX decisions_by_decision ON decisions (decision, id);
    CREATE TABLE decision_totals (
        decision TEXT PRIMARY KEY,
        n        BIGINT NOT NULL
    );
    CREATE TABLE unbound_decision_totals (
        decision TEXT PRIMARY KEY,
        n        BIGINT NOT NULL
    );
    CREATE TABLE emergency_stops (
        id     BIGSERIAL PRIMARY KEY,
        action TEXT NOT NULL CHECK (action IN ('stop', 'resume')),
        at_ms  BIGINT NOT NULL,
        actor  TEXT NOT NULL,
        reason TEXT NOT NULL
    );
    CREATE TABLE workflows (
        id            TEXT PRIMARY KEY,
        name          TEXT NOT NULL,
        agent_id      TEXT NOT NULL,
        status        TEXT NOT NULL CHECK (status IN ('running', 'paused', 'completed')),
        registered_ms BIGINT NOT NULL,
        registered_by TEXT NOT NULL,
        paused_ms     BIGINT,
        paused_by     TEXT,
        pause_reason  TEXT,
        completed_ms  BIGINT,
        step_count    BIGINT NOT NULL DEFAULT 0
    );
    CREATE INDEX workflows_by_status ON workflows (status);
    CREATE TABLE workflow_steps (
        workflow_id TEXT NOT NULL REFERENCES workflows (id),
        seq         BIGINT NOT NULL,
        name        TEXT NOT NULL,
        status      TEXT NOT NULL,
        detail      TEXT,
        at_ms       BIGINT NOT NULL,
        recorded_by TEXT NOT NULL,
        PRIMARY KEY (workflow_id, seq)
    );
    CREATE TABLE engine_events (
        id          BIGSERIAL PRIMARY KEY,
        engine      TEXT NOT NULL,
        event_type  TEXT NOT NULL,
        severity    TEXT NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
        details     TEXT NOT NULL,
        occurred_ms BIGINT NOT NULL,
        reported_by TEXT NOT NULL,
        action      TEXT
    );
    CREATE INDEX engine_events_by_time ON engine_events (occurred_ms);
    CREATE TABLE engine_event_totals (
        engine   TEXT NOT NULL,
        severity TEXT NOT NULL,
        n        BIGINT NOT NULL,
        PRIMARY KEY (engine, severity)
    );
    CREATE TABLE actions (
        id           BIGSERIAL PRIMARY KEY,
        kind         TEXT NOT NULL,
        action       TEXT NOT NULL,
        event_id     BIGINT REFERENCES engine_events (id),
        agent_id     TEXT,
        payload      TEXT NOT NULL,
        created_ms   BIGINT NOT NULL,
        delivery     TEXT NOT NULL,
        attempts     BIGINT NOT NULL DEFAULT 0,
        last_error   TEXT,
        delivered_ms BIGINT
    );
    CREATE INDEX actions_pending ON actions (delivery) WHERE delivery = 'pending';
    CREATE INDEX actions_by_time ON actions (created_ms);
    CREATE INDEX actions_with_error ON actions (created_ms) WHERE last_error IS NOT NULL;
    CREATE INDEX actions_by_event ON actions (event_id) WHERE event_id IS NOT NULL;
    CREATE TABLE risk_reports (
        id           BIGSERIAL PRIMARY KEY,
        generated_ms BIGINT NOT NULL,
        risk_score   BIGINT NOT NULL CHECK (risk_score BETWEEN 0 AND 100),
        body         TEXT NOT NULL
    );
    CREATE TABLE agents (
        id               TEXT PRIMARY KEY,
        capabilities     TEXT NOT NULL,
        cost_per_hour    DOUBLE PRECISION NOT NULL,
        reputation       DOUBLE PRECISION NOT NULL,
        budget           DOUBLE PRECISION NOT NULL,
        budget_remaining DOUBLE PRECISION NOT NULL,
        total_cost       DOUBLE PRECISION NOT NULL DEFAULT 0,
        model            TEXT,
        registered_ms    BIGINT NOT NULL,
        tripped          BOOLEAN NOT NULL DEFAULT FALSE,
        trip_reason      TEXT,
        tripped_ms       BIGINT,
        tripped_by       TEXT,
        failures         BIGINT NOT NULL DEFAULT 0
    );
    CREATE TABLE agent_costs (
        id          BIGSERIAL PRIMARY KEY,
        agent_id    TEXT NOT NULL REFERENCES agents (id),
        operation   TEXT NOT NULL,
        cost        DOUBLE PRECISION NOT NULL,
        at_ms       BIGINT NOT NULL,
        reported_by TEXT NOT NULL
    );
    CREATE TABLE agent_failures (
        id          BIGSERIAL PRIMARY KEY,
        agent_id    TEXT NOT NULL REFERENCES agents (id),
        task_id     TEXT,
        reason      TEXT,
        at_ms       BIGINT NOT NULL,
        reported_by TEXT NOT NULL
    );
    CREATE TABLE assignments (
        id       BIGSERIAL PRIMARY KEY,
        task_id  TEXT NOT NULL,
        agent_id TEXT,
        at_ms    BIGINT NOT NULL,
        body     TEXT NOT NULL
    );
    CREATE TABLE plugin_blobs (
        sha256 TEXT PRIMARY KEY,
        bytes  BYTEA NOT NULL
    );
    CREATE TABLE plugin_versions (
        id              BIGSERIAL PRIMARY KEY,
        name            TEXT NOT NULL,
        kind            TEXT NOT NULL,
        version         TEXT NOT NULL,
        sha256          TEXT NOT NULL,
        size_bytes      BIGINT NOT NULL,
        manifest        TEXT NOT NULL,
        uploaded_ms     BIGINT NOT NULL,
        uploaded_by     TEXT NOT NULL,
        signer          TEXT,
        status          TEXT NOT NULL CHECK (status IN ('active', 'inactive', 'rejected')),
        rejection       TEXT,
        activated_ms    BIGINT,
        signature       TEXT,
        signer_key      TEXT,
        UNIQUE (name, version)
    );
    CREATE UNIQUE INDEX plugin_versions_one_active ON plugin_versions (name) WHERE status = 'active';
    CREATE TABLE plugin_activations (
        id        BIGSERIAL PRIMARY KEY,
        name      TEXT NOT NULL,
        version   TEXT NOT NULL,
        previous  TEXT,
        at_ms     BIGINT NOT NULL,
        by        TEXT NOT NULL,
        how       TEXT NOT NULL,
        forced    BOOLEAN NOT NULL DEFAULT FALSE
    );
    CREATE INDEX plugin_activations_by_name ON plugin_activations (name, id);
    CREATE TABLE shadow_inputs (
        id      BIGSERIAL PRIMARY KEY,
        source  TEXT NOT NULL,
        at_ms   BIGINT NOT NULL,
        input   TEXT NOT NULL
    );
    CREATE INDEX shadow_inputs_by_source ON shadow_inputs (source, id);
    CREATE TABLE retention_horizons (
        name      TEXT PRIMARY KEY,
        before_ms BIGINT NOT NULL
    );
    -- Replication: every unit of work bumps the version and notifies the
    -- other replicas (LISTEN regent_changes) at its commit; a replica that
    -- missed a notification sees the version move on its next poll.
    CREATE TABLE change_version (
        id      BIGINT PRIMARY KEY CHECK (id = 1),
        version BIGINT NOT NULL
    );
    INSERT INTO change_version (id, version) VALUES (1, 0);
    -- Every live replica, as its heartbeat last said: the control version
    -- it has applied (and when), and its plugin generation, so a stop can
    -- name who has applied it and an operator sees who lags.
    CREATE TABLE replicas (
        id                TEXT PRIMARY KEY,
        address           TEXT NOT NULL,
        regent_version    TEXT NOT NULL,
        started_ms        BIGINT NOT NULL,
        heartbeat_ms      BIGINT NOT NULL,
        applied_version   BIGINT NOT NULL DEFAULT 0,
        applied_ms        BIGINT,
        plugin_generation BIGINT NOT NULL DEFAULT 0
    );
    -- Background work that must run on one replica at a time: the holder
    -- renews before `expires_ms` (the database's clock), and stops the
    -- work if it cannot; anyone may take a lease that has expired.
    CREATE TABLE leases (
        name        TEXT PRIMARY KEY,
        holder      TEXT NOT NULL,
        acquired_ms BIGINT NOT NULL,
        renewed_ms  BIGINT NOT NULL,
        expires_ms  BIGINT NOT NULL
    );
    -- A webhook delivery claimed by one replica (FOR UPDATE SKIP LOCKED),
    -- so each is delivered once, and taken back if its claim lapses.
    ALTER TABLE actions ADD COLUMN claimed_by TEXT;
    ALTER TABLE actions ADD COLUMN claim_expires_ms BIGINT;",
    // 2: console sessions, as SQLite's migration 11.
    "CREATE TABLE sessions (
        id           BIGSERIAL PRIMARY KEY,
        secret_hash  TEXT NOT NULL UNIQUE,
        principal_id TEXT NOT NULL,
        kind         TEXT NOT NULL CHECK (kind IN ('person', 'system')),
        roles        TEXT NOT NULL,
        credential   TEXT NOT NULL CHECK (credential IN ('token', 'oidc')),
        token_id     BIGINT REFERENCES tokens (id),
        agent        TEXT,
        created_ms   BIGINT NOT NULL,
        expires_ms   BIGINT NOT NULL,
        ended_ms     BIGINT,
        CHECK ((credential = 'token') = (token_id IS NOT NULL))
    );
    CREATE INDEX sessions_by_expiry ON sessions (expires_ms);",
    // 3: scoped authority, as SQLite's migration 12.
    "CREATE TABLE scopes (
        scope           TEXT PRIMARY KEY,
        autonomous      BOOLEAN NOT NULL DEFAULT TRUE,
        autonomy_by     TEXT,
        autonomy_ms     BIGINT,
        autonomy_reason TEXT,
        stopped         BOOLEAN NOT NULL DEFAULT FALSE,
        stopped_by      TEXT,
        stopped_ms      BIGINT,
        stop_reason     TEXT,
        resumed_ms      BIGINT
    );
    ALTER TABLE decisions ADD COLUMN scope TEXT;
    CREATE INDEX decisions_by_scope ON decisions (scope, id) WHERE scope IS NOT NULL;",
    // 4: idempotency keys, as SQLite's migration 13.
    "CREATE TABLE idempotency_keys (
        caller      TEXT NOT NULL,
        route       TEXT NOT NULL,
        key         TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        claim       TEXT NOT NULL,
        status      INTEGER,
        body        TEXT,
        created_ms  BIGINT NOT NULL,
        expires_ms  BIGINT NOT NULL,
        PRIMARY KEY (caller, route, key),
        CHECK ((status IS NULL) = (body IS NULL))
    );
    CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_ms);",
    // 5: budgets, as SQLite's migration 14.
    "CREATE TABLE budgets (
        kind       TEXT NOT NULL CHECK (kind IN ('rate', 'concurrency', 'batch')),
        name       TEXT NOT NULL,
        body       TEXT NOT NULL,
        updated_ms BIGINT NOT NULL,
        updated_by TEXT NOT NULL,
        PRIMARY KEY (kind, name)
    );
    CREATE TABLE budget_buckets (
        ledger    TEXT NOT NULL,
        bucket_ms BIGINT NOT NULL,
        n         BIGINT NOT NULL,
        PRIMARY KEY (ledger, bucket_ms)
    );
    CREATE TABLE budget_leases (
        decision_id BIGINT NOT NULL,
        ledger      TEXT NOT NULL,
        expires_ms  BIGINT NOT NULL,
        PRIMARY KEY (decision_id, ledger)
    );
    CREATE INDEX budget_leases_by_ledger ON budget_leases (ledger, expires_ms);",
];

/// Applies every migration the database lacks, each in its own
/// transaction, under a session advisory lock: a second replica starting
/// at the same moment waits, then finds nothing left to apply. Refuses a
/// database migrated by a newer Regent rather than run on a schema it does
/// not know.
pub(super) async fn migrate(client: &mut Client) -> Result<i64, StorageError> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(pg("take the migration lock"))?;
    let outcome = apply(client).await;
    // Released on every path; closing the connection would release it too.
    let unlocked = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(pg("release the migration lock"));
    let version = outcome?;
    unlocked?;
    Ok(version)
}

async fn apply(client: &mut Client) -> Result<i64, StorageError> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version    BIGINT PRIMARY KEY,
                applied_ms BIGINT NOT NULL
            )",
        )
        .await
        .map_err(pg("create the migrations table"))?;
    let current: i64 = client
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )
        .await
        .map_err(pg("read the schema version"))?
        .get(0);
    let known = MIGRATIONS.len() as i64;
    if current > known {
        return Err(StorageError::Corrupt {
            table: "schema_migrations",
            message: format!(
                "the database is at schema version {current}, newer than this Regent knows ({known}): \
                 upgrade this replica rather than run it on a schema it does not understand"
            ),
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = index as i64 + 1;
        let tx = client
            .transaction()
            .await
            .map_err(pg("begin a migration"))?;
        tx.batch_execute(sql)
            .await
            .map_err(pg("apply a migration"))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_ms) VALUES ($1, $2)",
            &[&version, &crate::domain::Timestamp::now().millis()],
        )
        .await
        .map_err(pg("record a migration"))?;
        tx.commit().await.map_err(pg("commit a migration"))?;
        tracing::info!(version, "applied a PostgreSQL migration");
    }
    Ok(known)
}
