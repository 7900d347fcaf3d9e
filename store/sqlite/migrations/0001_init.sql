-- Portable SQL: no SQLite-only types or functions, so the PostgreSQL store
-- can share the schema. Objects are stored as JSON documents next to the
-- columns that carry keys, uniqueness and indexes.

CREATE TABLE cluster (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    data TEXT NOT NULL
);

CREATE TABLE udts (name TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE ults (name TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE user_profiles (name TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE feature_group_templates (name TEXT PRIMARY KEY, data TEXT NOT NULL);

CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    self_service_id TEXT UNIQUE,
    data            TEXT NOT NULL,
    pin_hash        TEXT NOT NULL DEFAULT '',
    password_hash   TEXT NOT NULL DEFAULT '',
    credential      TEXT NOT NULL DEFAULT '{}'
);

-- name_key is the upper-cased name: device names are unique case-insensitively.
CREATE TABLE devices (
    name_key   TEXT PRIMARY KEY,
    owner      TEXT,
    state      TEXT NOT NULL,
    model      INTEGER NOT NULL,
    data       TEXT NOT NULL
);
CREATE INDEX devices_owner ON devices (owner);

-- One row per line appearance; dn_num is set for all-digit DNs so that the
-- auto-registration allocator can walk a range in order. A DN taken by
-- auto-registration (auto = 1) belongs to that device alone.
CREATE TABLE lines (
    device_key TEXT NOT NULL REFERENCES devices (name_key) ON DELETE CASCADE,
    button     INTEGER NOT NULL,
    dn         TEXT NOT NULL,
    partition  TEXT NOT NULL,
    dn_num     INTEGER,
    dn_len     INTEGER NOT NULL,
    auto       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (device_key, button)
);
CREATE UNIQUE INDEX lines_auto_dn ON lines (partition, dn) WHERE auto = 1;
CREATE INDEX lines_dn ON lines (partition, dn_num);
CREATE INDEX lines_dn_text ON lines (partition, dn);

-- When a user's device of a given prefix was last deleted (Webex cool-down).
CREATE TABLE deletions (
    owner      TEXT NOT NULL,
    prefix     TEXT NOT NULL,
    deleted_at INTEGER NOT NULL,
    PRIMARY KEY (owner, prefix)
);
