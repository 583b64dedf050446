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
];
