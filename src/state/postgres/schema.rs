//! The PostgreSQL schema, as versioned migrations applied on start (in the schema the connection's
//! `search_path` names first; several replicas starting together migrate one after the other).

/// `(version, description, SQL)`; never edit a released entry — add a new version.
pub(super) const MIGRATIONS: &[(i64, &str, &str)] = &[(
    1,
    "initial schema with leases",
    r#"
CREATE TABLE streams (
    stream TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    content_type TEXT NOT NULL,
    checkpoint TIMESTAMPTZ,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE committed_blobs (
    stream TEXT NOT NULL,
    content_id TEXT NOT NULL,
    content_created TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    committed_at TIMESTAMPTZ NOT NULL,
    records INTEGER NOT NULL,
    owner TEXT,
    epoch BIGINT,
    commits INTEGER NOT NULL DEFAULT 1,
    other_owner_commits INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (stream, content_id)
);
CREATE INDEX committed_blobs_expiry ON committed_blobs (expires_at);
CREATE TABLE seen_records (
    tenant TEXT NOT NULL,
    record_id TEXT NOT NULL,
    committed_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, record_id)
);
CREATE INDEX seen_records_committed ON seen_records (committed_at);
CREATE TABLE dead_letters (
    id BIGSERIAL PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL,
    kind TEXT NOT NULL,
    stream TEXT NOT NULL,
    tenant TEXT NOT NULL,
    content_type TEXT NOT NULL,
    content_id TEXT NOT NULL,
    content_uri TEXT NOT NULL,
    record_id TEXT,
    sink TEXT,
    reason TEXT NOT NULL,
    payload TEXT NOT NULL
);
CREATE INDEX dead_letters_stream ON dead_letters (stream);
CREATE TABLE leases (
    stream TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    content_type TEXT NOT NULL,
    owner TEXT,
    epoch BIGINT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    acquired_at TIMESTAMPTZ NOT NULL,
    renewed_at TIMESTAMPTZ NOT NULL,
    previous_owner TEXT
);
CREATE TABLE replicas (
    replica TEXT PRIMARY KEY,
    started_at TIMESTAMPTZ NOT NULL,
    heartbeat_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
"#,
)];
