//! Versioned migrations; a migration's index + 1 is its schema version
//! (SQLite's `user_version`). Applied ones are never edited.

pub(super) const MIGRATIONS: &[&str] = &[
    "CREATE TABLE evaluations (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        at_ms       INTEGER NOT NULL,
        plugin      TEXT NOT NULL,
        version     TEXT NOT NULL,
        kind        TEXT NOT NULL,
        input       TEXT NOT NULL,
        output      TEXT,
        error_code  TEXT,
        error       TEXT,
        elapsed_us  INTEGER NOT NULL
    );
    CREATE INDEX evaluations_by_plugin ON evaluations (plugin, id);",
    // The governance service.
    "CREATE TABLE commands (
        id                TEXT PRIMARY KEY,
        command_type      TEXT NOT NULL,
        status            TEXT NOT NULL,
        required_approval INTEGER NOT NULL,
        autonomous        INTEGER NOT NULL,
        created_ms        INTEGER NOT NULL,
        duration_ms       INTEGER,
        error             TEXT,
        received_ms       INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX commands_by_time ON commands (created_ms, status, required_approval, command_type);
    -- Per-hour counts, kept in the same transaction as the commands, so a
    -- week's metrics sum 168 rows instead of scanning every command.
    CREATE TABLE command_hours (
        hour_ms           INTEGER NOT NULL,
        status            TEXT NOT NULL,
        required_approval INTEGER NOT NULL,
        n                 INTEGER NOT NULL,
        PRIMARY KEY (hour_ms, status, required_approval)
    ) WITHOUT ROWID;
    -- All-time counts per command type and status, kept in the ingest
    -- transaction: `/metrics` reads emergency aborts without a scan.
    CREATE TABLE command_type_totals (
        command_type TEXT NOT NULL,
        status       TEXT NOT NULL,
        n            INTEGER NOT NULL,
        PRIMARY KEY (command_type, status)
    ) WITHOUT ROWID;
    CREATE TABLE incidents (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        severity     TEXT NOT NULL,
        autonomous   INTEGER NOT NULL,
        command_type TEXT,
        description  TEXT NOT NULL,
        occurred_ms  INTEGER NOT NULL,
        reported_by  TEXT NOT NULL
    );
    CREATE INDEX incidents_by_time ON incidents (occurred_ms);
    CREATE TABLE gauges (
        name       TEXT PRIMARY KEY,
        value      REAL NOT NULL,
        updated_ms INTEGER NOT NULL
    );
    CREATE TABLE governance_state (
        id               INTEGER PRIMARY KEY CHECK (id = 1),
        phase            TEXT NOT NULL,
        phase_started_ms INTEGER NOT NULL,
        whitelist        TEXT NOT NULL,
        last_report_ms   INTEGER,
        emergency_stop   INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE metrics_snapshots (
        id     INTEGER PRIMARY KEY AUTOINCREMENT,
        at_ms  INTEGER NOT NULL,
        body   TEXT NOT NULL
    );
    CREATE TABLE readiness_assessments (
        id     INTEGER PRIMARY KEY AUTOINCREMENT,
        at_ms  INTEGER NOT NULL,
        body   TEXT NOT NULL
    );
    CREATE TABLE breaker_rules (
        name     TEXT PRIMARY KEY,
        position INTEGER NOT NULL,
        body     TEXT NOT NULL
    );
    CREATE TABLE breaker_events (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        rule_name    TEXT NOT NULL,
        triggered_ms INTEGER NOT NULL,
        resolved_ms  INTEGER,
        body         TEXT NOT NULL
    );
    -- At most one unresolved event per rule, whatever the caller does.
    CREATE UNIQUE INDEX one_open_event_per_rule ON breaker_events (rule_name) WHERE resolved_ms IS NULL;
    CREATE TABLE proposals (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        status     TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        body       TEXT NOT NULL
    );
    -- At most one pending proposal.
    CREATE UNIQUE INDEX one_pending_proposal ON proposals (status) WHERE status = 'pending';
    CREATE TABLE governance_reports (
        id     INTEGER PRIMARY KEY AUTOINCREMENT,
        at_ms  INTEGER NOT NULL,
        body   TEXT NOT NULL
    );
    CREATE TABLE attestations (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        key          TEXT NOT NULL,
        attested_by  TEXT NOT NULL,
        token_id     INTEGER NOT NULL,
        role         TEXT NOT NULL,
        attested_ms  INTEGER NOT NULL,
        expires_ms   INTEGER,
        evidence_url TEXT,
        revoked_ms   INTEGER,
        revoked_by   TEXT
    );
    CREATE TABLE tokens (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        name       TEXT NOT NULL,
        roles      TEXT NOT NULL,
        hash       TEXT NOT NULL UNIQUE,
        created_ms INTEGER NOT NULL,
        revoked_ms INTEGER
    );
    CREATE TABLE audit_log (
        id        INTEGER PRIMARY KEY,
        at_ms     INTEGER NOT NULL,
        actor     TEXT NOT NULL,
        action    TEXT NOT NULL,
        target    TEXT NOT NULL,
        before    TEXT,
        after     TEXT,
        prev_hash TEXT NOT NULL,
        hash      TEXT NOT NULL
    );
    -- The chain's head, so that deleting the newest entries is detected too.
    CREATE TABLE audit_head (
        id    INTEGER PRIMARY KEY CHECK (id = 1),
        last  INTEGER NOT NULL,
        hash  TEXT NOT NULL
    );
    CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;",
    // The control plane: decisions, brakes, engines' events, agents.
    "CREATE TABLE decisions (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        at_ms        INTEGER NOT NULL,
        command_type TEXT NOT NULL,
        workflow_id  TEXT,
        agent_id     TEXT,
        decision     TEXT NOT NULL,
        reasons      TEXT NOT NULL,
        phase        TEXT NOT NULL,
        caller       TEXT NOT NULL
    );
    CREATE INDEX decisions_by_type ON decisions (command_type, id);
    CREATE INDEX decisions_by_decision ON decisions (decision, id);
    -- Kept in the same transaction as the log, so /metrics needs no scan.
    CREATE TABLE decision_totals (
        decision TEXT PRIMARY KEY,
        n        INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE emergency_stops (
        id     INTEGER PRIMARY KEY AUTOINCREMENT,
        action TEXT NOT NULL CHECK (action IN ('stop', 'resume')),
        at_ms  INTEGER NOT NULL,
        actor  TEXT NOT NULL,
        reason TEXT NOT NULL
    );
    CREATE TABLE workflows (
        id            TEXT PRIMARY KEY,
        name          TEXT NOT NULL,
        agent_id      TEXT NOT NULL,
        status        TEXT NOT NULL CHECK (status IN ('running', 'paused', 'completed')),
        registered_ms INTEGER NOT NULL,
        registered_by TEXT NOT NULL,
        paused_ms     INTEGER,
        paused_by     TEXT,
        pause_reason  TEXT,
        completed_ms  INTEGER,
        step_count    INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID;
    CREATE INDEX workflows_by_status ON workflows (status);
    CREATE TABLE workflow_steps (
        workflow_id TEXT NOT NULL REFERENCES workflows (id),
        seq         INTEGER NOT NULL,
        name        TEXT NOT NULL,
        status      TEXT NOT NULL,
        detail      TEXT,
        at_ms       INTEGER NOT NULL,
        recorded_by TEXT NOT NULL,
        PRIMARY KEY (workflow_id, seq)
    ) WITHOUT ROWID;
    CREATE TABLE engine_events (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        engine      TEXT NOT NULL,
        event_type  TEXT NOT NULL,
        severity    TEXT NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
        details     TEXT NOT NULL,
        occurred_ms INTEGER NOT NULL,
        reported_by TEXT NOT NULL,
        action      TEXT
    );
    CREATE INDEX engine_events_by_time ON engine_events (occurred_ms);
    CREATE TABLE engine_event_totals (
        engine   TEXT NOT NULL,
        severity TEXT NOT NULL,
        n        INTEGER NOT NULL,
        PRIMARY KEY (engine, severity)
    ) WITHOUT ROWID;
    CREATE TABLE actions (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        kind         TEXT NOT NULL,
        action       TEXT NOT NULL,
        event_id     INTEGER REFERENCES engine_events (id),
        agent_id     TEXT,
        payload      TEXT NOT NULL,
        created_ms   INTEGER NOT NULL,
        delivery     TEXT NOT NULL,
        attempts     INTEGER NOT NULL DEFAULT 0,
        last_error   TEXT,
        delivered_ms INTEGER
    );
    CREATE INDEX actions_pending ON actions (delivery) WHERE delivery = 'pending';
    CREATE TABLE risk_reports (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        generated_ms INTEGER NOT NULL,
        risk_score   INTEGER NOT NULL CHECK (risk_score BETWEEN 0 AND 100),
        body         TEXT NOT NULL
    );
    CREATE TABLE agents (
        id               TEXT PRIMARY KEY,
        capabilities     TEXT NOT NULL,
        cost_per_hour    REAL NOT NULL,
        reputation       REAL NOT NULL,
        budget           REAL NOT NULL,
        budget_remaining REAL NOT NULL,
        total_cost       REAL NOT NULL DEFAULT 0,
        model            TEXT,
        registered_ms    INTEGER NOT NULL,
        tripped          INTEGER NOT NULL DEFAULT 0,
        trip_reason      TEXT,
        tripped_ms       INTEGER,
        tripped_by       TEXT,
        failures         INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID;
    CREATE TABLE agent_costs (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        agent_id    TEXT NOT NULL REFERENCES agents (id),
        operation   TEXT NOT NULL,
        cost        REAL NOT NULL,
        at_ms       INTEGER NOT NULL,
        reported_by TEXT NOT NULL
    );
    CREATE TABLE agent_failures (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        agent_id    TEXT NOT NULL REFERENCES agents (id),
        task_id     TEXT,
        reason      TEXT,
        at_ms       INTEGER NOT NULL,
        reported_by TEXT NOT NULL
    );
    CREATE TABLE assignments (
        id       INTEGER PRIMARY KEY AUTOINCREMENT,
        task_id  TEXT NOT NULL,
        agent_id TEXT,
        at_ms    INTEGER NOT NULL,
        body     TEXT NOT NULL
    );",
    // 4: plugin versions. Blobs are keyed by their sha256, so two versions
    // with the same bytes share one. At most one version of a name is
    // active (the partial unique index), and every activation is kept, so
    // a rollback knows what was active before.
    "CREATE TABLE plugin_blobs (
        sha256 TEXT PRIMARY KEY,
        bytes  BLOB NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE plugin_versions (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        name            TEXT NOT NULL,
        kind            TEXT NOT NULL,
        version         TEXT NOT NULL,
        sha256          TEXT NOT NULL,
        size_bytes      INTEGER NOT NULL,
        manifest        TEXT NOT NULL,
        uploaded_ms     INTEGER NOT NULL,
        uploaded_by     TEXT NOT NULL,
        signer          TEXT,
        status          TEXT NOT NULL CHECK (status IN ('active', 'inactive', 'rejected')),
        rejection       TEXT,
        activated_ms    INTEGER,
        UNIQUE (name, version)
    );
    CREATE UNIQUE INDEX plugin_versions_one_active ON plugin_versions (name) WHERE status = 'active';
    CREATE TABLE plugin_activations (
        id        INTEGER PRIMARY KEY AUTOINCREMENT,
        name      TEXT NOT NULL,
        version   TEXT NOT NULL,
        previous  TEXT,
        at_ms     INTEGER NOT NULL,
        by        TEXT NOT NULL,
        how       TEXT NOT NULL,
        forced    INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX plugin_activations_by_name ON plugin_activations (name, id);
    CREATE TABLE shadow_inputs (
        id      INTEGER PRIMARY KEY AUTOINCREMENT,
        source  TEXT NOT NULL,
        at_ms   INTEGER NOT NULL,
        input   TEXT NOT NULL
    );
    CREATE INDEX shadow_inputs_by_source ON shadow_inputs (source, id);",
    // 5: separation of duties. Every token names its principal (a person
    // or a system) and may be bound to an agent; tokens minted before this
    // are their own principal, a person when they hold a role that governs.
    // Decisions record whether the caller was bound to an agent.
    "ALTER TABLE tokens ADD COLUMN principal TEXT;
    ALTER TABLE tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'system' CHECK (kind IN ('person', 'system'));
    ALTER TABLE tokens ADD COLUMN agent_id TEXT;
    UPDATE tokens SET principal = name,
        kind = CASE WHEN EXISTS (SELECT 1 FROM json_each(tokens.roles)
                                 WHERE value IN ('operator', 'admin', 'tech_lead', 'ops_lead', 'product_lead', 'exec_sponsor'))
                    THEN 'person' ELSE 'system' END;
    CREATE INDEX tokens_by_agent ON tokens (agent_id) WHERE agent_id IS NOT NULL;
    ALTER TABLE decisions ADD COLUMN unbound INTEGER NOT NULL DEFAULT 0;
    -- Unbound decisions by outcome, kept with the log as decision_totals is.
    CREATE TABLE unbound_decision_totals (
        decision TEXT PRIMARY KEY,
        n        INTEGER NOT NULL
    ) WITHOUT ROWID;",
    // 6: retention. A horizon is a time before which a table's raw rows
    // may have been pruned: it only rises. The indexes let the pruner
    // find old actions and an event's actions without a scan.
    "CREATE TABLE retention_horizons (
        name      TEXT PRIMARY KEY,
        before_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX actions_by_time ON actions (created_ms);
    CREATE INDEX actions_with_error ON actions (created_ms) WHERE last_error IS NOT NULL;
    CREATE INDEX actions_by_event ON actions (event_id) WHERE event_id IS NOT NULL;",
    // 7: a version keeps the signature it was accepted with (the JSON of
    // its signature file, over the name, version, kind, component and
    // manifest) and the signing key, so it is verified again against the
    // trusted keys of the day on every activation and at every start.
    // Versions signed before this have a signer and no signature: the old
    // format, refused until signed again.
    "ALTER TABLE plugin_versions ADD COLUMN signature TEXT;
    ALTER TABLE plugin_versions ADD COLUMN signer_key TEXT;",
    // 8: webhook delivery claims. A sender claims a pending action before
    // it delivers it, until `claim_expires_ms`, so that senders sharing a
    // store deliver each action once; a lapsed claim may be taken again.
    "ALTER TABLE actions ADD COLUMN claimed_by TEXT;
    ALTER TABLE actions ADD COLUMN claim_expires_ms INTEGER;",
    // 9: leases on background work (breaker checks, the scheduled cycle,
    // retention, audit checkpoints), as on PostgreSQL: one process always
    // holds them here, but the runner and the listing are the same.
    "CREATE TABLE leases (
        name        TEXT PRIMARY KEY,
        holder      TEXT NOT NULL,
        acquired_ms INTEGER NOT NULL,
        renewed_ms  INTEGER NOT NULL,
        expires_ms  INTEGER NOT NULL
    ) WITHOUT ROWID;",
    // 10: the replicas serving from this store, as their heartbeats last
    // said. A SQLite file has one process, so one live replica; the table
    // has PostgreSQL's shape so that `GET /api/replicas` reads the same.
    "CREATE TABLE replicas (
        id                TEXT PRIMARY KEY,
        address           TEXT NOT NULL,
        regent_version    TEXT NOT NULL,
        started_ms        INTEGER NOT NULL,
        heartbeat_ms      INTEGER NOT NULL,
        applied_version   INTEGER NOT NULL DEFAULT 0,
        applied_ms        INTEGER,
        plugin_generation INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID;",
    // 11: console sessions. The secret lives only in the browser's
    // cookie; the store keeps its SHA-256. A token session names its
    // token, so revoking the token ends what it signed in.
    "CREATE TABLE sessions (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        secret_hash  TEXT NOT NULL UNIQUE,
        principal_id TEXT NOT NULL,
        kind         TEXT NOT NULL CHECK (kind IN ('person', 'system')),
        roles        TEXT NOT NULL,
        credential   TEXT NOT NULL CHECK (credential IN ('token', 'oidc')),
        token_id     INTEGER REFERENCES tokens (id),
        agent        TEXT,
        created_ms   INTEGER NOT NULL,
        expires_ms   INTEGER NOT NULL,
        ended_ms     INTEGER,
        CHECK ((credential = 'token') = (token_id IS NOT NULL))
    );
    CREATE INDEX sessions_by_expiry ON sessions (expires_ms);",
    // 12: scoped authority. A scope's row exists once an operator granted,
    // revoked or stopped it; a scope without one follows the phase.
    // Decisions record the scope they were asked in.
    "CREATE TABLE scopes (
        scope           TEXT PRIMARY KEY,
        autonomous      INTEGER NOT NULL DEFAULT 1,
        autonomy_by     TEXT,
        autonomy_ms     INTEGER,
        autonomy_reason TEXT,
        stopped         INTEGER NOT NULL DEFAULT 0,
        stopped_by      TEXT,
        stopped_ms      INTEGER,
        stop_reason     TEXT,
        resumed_ms      INTEGER
    ) WITHOUT ROWID;
    ALTER TABLE decisions ADD COLUMN scope TEXT;
    CREATE INDEX decisions_by_scope ON decisions (scope, id) WHERE scope IS NOT NULL;",
    // 13: idempotency keys. A key is claimed before
    // its work (`status` and `body` NULL, `expires_ms` the claim's lease),
    // then answered (`expires_ms` the end of its retention) or deleted if
    // the work failed. `claim` names the request holding it, so a request
    // whose lease lapsed cannot overwrite its successor's row.
    "CREATE TABLE idempotency_keys (
        caller      TEXT NOT NULL,
        route       TEXT NOT NULL,
        key         TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        claim       TEXT NOT NULL,
        status      INTEGER,
        body        TEXT,
        created_ms  INTEGER NOT NULL,
        expires_ms  INTEGER NOT NULL,
        PRIMARY KEY (caller, route, key),
        CHECK ((status IS NULL) = (body IS NULL))
    );
    CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_ms);",
    // 14: budgets. Definitions are rows the control snapshot reads.
    // Rate budgets count in buckets (1/60 of the window); each granted
    // concurrency claim holds a lease until completed or expired.
    "CREATE TABLE budgets (
        kind       TEXT NOT NULL CHECK (kind IN ('rate', 'concurrency', 'batch')),
        name       TEXT NOT NULL,
        body       TEXT NOT NULL,
        updated_ms INTEGER NOT NULL,
        updated_by TEXT NOT NULL,
        PRIMARY KEY (kind, name)
    ) WITHOUT ROWID;
    CREATE TABLE budget_buckets (
        ledger    TEXT NOT NULL,
        bucket_ms INTEGER NOT NULL,
        n         INTEGER NOT NULL,
        PRIMARY KEY (ledger, bucket_ms)
    ) WITHOUT ROWID;
    CREATE TABLE budget_leases (
        decision_id INTEGER NOT NULL,
        ledger      TEXT NOT NULL,
        expires_ms  INTEGER NOT NULL,
        PRIMARY KEY (decision_id, ledger)
    ) WITHOUT ROWID;
    CREATE INDEX budget_leases_by_ledger ON budget_leases (ledger, expires_ms);",
];
