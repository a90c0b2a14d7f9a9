-- Keys, teams, users and spend. Money is NUMERIC (exact), times TIMESTAMPTZ, metadata JSONB.

CREATE TABLE teams (
    team_id TEXT PRIMARY KEY,
    team_alias TEXT,
    models TEXT[] NOT NULL DEFAULT '{}',
    max_budget NUMERIC,
    budget_duration TEXT,
    budget_reset_at TIMESTAMPTZ,
    tpm_limit BIGINT,
    rpm_limit BIGINT,
    max_parallel_requests BIGINT,
    metadata JSONB NOT NULL DEFAULT '{}',
    blocked BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
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
    models TEXT[] NOT NULL DEFAULT '{}',
    max_budget NUMERIC,
    budget_duration TEXT,
    budget_reset_at TIMESTAMPTZ,
    tpm_limit BIGINT,
    rpm_limit BIGINT,
    max_parallel_requests BIGINT,
    metadata JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX users_by_created ON users (created_at, user_id);

CREATE TABLE virtual_keys (
    token_hash TEXT PRIMARY KEY,
    key_name TEXT,
    key_alias TEXT UNIQUE,
    models TEXT[] NOT NULL DEFAULT '{}',
    max_budget NUMERIC,
    budget_duration TEXT,
    budget_reset_at TIMESTAMPTZ,
    tpm_limit BIGINT,
    rpm_limit BIGINT,
    max_parallel_requests BIGINT,
    team_id TEXT,
    user_id TEXT,
    expires_at TIMESTAMPTZ,
    blocked BOOLEAN NOT NULL DEFAULT FALSE,
    is_admin BOOLEAN NOT NULL DEFAULT FALSE,
    metadata JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
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
    prompt_tokens BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    cached_tokens BIGINT NOT NULL,
    cost_usd NUMERIC NOT NULL,
    latency_ms DOUBLE PRECISION,
    status INTEGER NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    ended_at TIMESTAMPTZ NOT NULL,
    metadata JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX spend_logs_by_started ON spend_logs (started_at, request_id);
CREATE INDEX spend_logs_by_key ON spend_logs (key_hash, started_at);
CREATE INDEX spend_logs_by_team ON spend_logs (team_id, started_at);
CREATE INDEX spend_logs_by_user ON spend_logs (user_id, started_at);
CREATE INDEX spend_logs_by_model ON spend_logs (model_group, started_at);

-- One row per UTC day and (key, team, user, model group, deployment); '' stands for none,
-- because NULLs never conflict in a unique index.
CREATE TABLE spend_daily (
    day DATE NOT NULL,
    key_hash TEXT NOT NULL,
    team_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    model_group TEXT NOT NULL,
    deployment_id TEXT NOT NULL,
    requests BIGINT NOT NULL,
    prompt_tokens BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    cost_usd NUMERIC NOT NULL,
    PRIMARY KEY (day, key_hash, team_id, user_id, model_group, deployment_id)
);
