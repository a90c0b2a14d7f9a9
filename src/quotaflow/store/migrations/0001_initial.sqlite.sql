-- Keys, teams, users and spend. Money is exact decimal text, times are ISO-8601 UTC text
-- (fixed width, so they sort as text), metadata and model lists are JSON text.

CREATE TABLE teams (
    team_id TEXT PRIMARY KEY,
    team_alias TEXT,
    models TEXT NOT NULL DEFAULT '[]',
    max_budget TEXT,
    budget_duration TEXT,
    budget_reset_at TEXT,
    tpm_limit INTEGER,
    rpm_limit INTEGER,
    max_parallel_requests INTEGER,
    metadata TEXT NOT NULL DEFAULT '{}',
    blocked INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX teams_by_created ON teams (created_at, team_id);

CREATE TABLE team_members (
    team_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    role TEXT NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_by_user ON team_members (user_id);

CREATE TABLE users (
    user_id TEXT PRIMARY KEY,
    user_alias TEXT,
    user_email TEXT,
    user_role TEXT NOT NULL,
    models TEXT NOT NULL DEFAULT '[]',
    max_budget TEXT,
    budget_duration TEXT,
    budget_reset_at TEXT,
    tpm_limit INTEGER,
    rpm_limit INTEGER,
    max_parallel_requests INTEGER,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX users_by_created ON users (created_at, user_id);

CREATE TABLE virtual_keys (
    token_hash TEXT PRIMARY KEY,
    key_name TEXT,
    key_alias TEXT UNIQUE,
    models TEXT NOT NULL DEFAULT '[]',
    max_budget TEXT,
    budget_duration TEXT,
    budget_reset_at TEXT,
    tpm_limit INTEGER,
    rpm_limit INTEGER,
    max_parallel_requests INTEGER,
    team_id TEXT,
    user_id TEXT,
    expires_at TEXT,
    blocked INTEGER NOT NULL DEFAULT 0,
    is_admin INTEGER NOT NULL DEFAULT 0,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX virtual_keys_by_created ON virtual_keys (created_at, token_hash);
CREATE INDEX virtual_keys_by_team ON virtual_keys (team_id, created_at, token_hash);
CREATE INDEX virtual_keys_by_user ON virtual_keys (user_id, created_at, token_hash);

CREATE TABLE spend_logs (
    request_id TEXT PRIMARY KEY,
    key_hash TEXT,
    key_alias TEXT,
    team_id TEXT,
    user_id TEXT,
    model_group TEXT,
    deployment_id TEXT,
    provider TEXT,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cached_tokens INTEGER NOT NULL,
    cost_usd TEXT NOT NULL,
    latency_ms REAL,
    status INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX spend_logs_by_started ON spend_logs (started_at, request_id);
CREATE INDEX spend_logs_by_key ON spend_logs (key_hash, started_at);
CREATE INDEX spend_logs_by_team ON spend_logs (team_id, started_at);
CREATE INDEX spend_logs_by_user ON spend_logs (user_id, started_at);
CREATE INDEX spend_logs_by_model ON spend_logs (model_group, started_at);

-- One row per UTC day and (key, team, user, model group, deployment); '' stands for none,
-- because NULLs never conflict in a unique index.
CREATE TABLE spend_daily (
    day TEXT NOT NULL,
    key_hash TEXT NOT NULL,
    team_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    model_group TEXT NOT NULL,
    deployment_id TEXT NOT NULL,
    requests INTEGER NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cost_usd TEXT NOT NULL,
    PRIMARY KEY (day, key_hash, team_id, user_id, model_group, deployment_id)
);
