-- Architectures, devices, measurements, accuracies, tokens and the job queue.
-- Times are milliseconds since the Unix epoch (BIGINT) on both backends; flags are 0/1.

CREATE TABLE architecture (
    architecture_seq BIGSERIAL PRIMARY KEY,
    architecture_id TEXT NOT NULL CONSTRAINT uq_architecture_id UNIQUE,
    source TEXT NOT NULL CHECK (source IN ('spec', 'onnx')),
    space TEXT,
    in_space BIGINT NOT NULL,
    spec TEXT,
    onnx BYTEA,
    metrics TEXT NOT NULL,
    nn_degree DOUBLE PRECISION NOT NULL,
    params BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX idx_architecture_space ON architecture (space, architecture_seq);

CREATE TABLE device (
    device_seq BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL CONSTRAINT uq_device_name UNIQUE,
    profile TEXT NOT NULL,
    descriptor TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    last_heartbeat_at BIGINT
);

CREATE TABLE job (
    job_seq BIGSERIAL PRIMARY KEY,
    job_id TEXT NOT NULL CONSTRAINT uq_job_id UNIQUE,
    architecture_id TEXT NOT NULL REFERENCES architecture (architecture_id),
    device TEXT NOT NULL REFERENCES device (name),
    protocol TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed')),
    attempt BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL,
    lease_expires_at BIGINT,
    error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- At most one live job per (architecture, device, protocol).
CREATE UNIQUE INDEX idx_job_live ON job (architecture_id, device, protocol) WHERE state IN ('queued', 'running');
-- The claim's predicates.
CREATE INDEX idx_job_claim ON job (device, state, job_seq) WHERE state IN ('queued', 'running');

CREATE TABLE measurement (
    measurement_seq BIGSERIAL PRIMARY KEY,
    architecture_id TEXT NOT NULL REFERENCES architecture (architecture_id),
    device TEXT NOT NULL REFERENCES device (name),
    job_id TEXT CONSTRAINT uq_measurement_job UNIQUE REFERENCES job (job_id),
    source TEXT NOT NULL,
    p50_ms DOUBLE PRECISION NOT NULL,
    energy_mj DOUBLE PRECISION,
    energy_method TEXT,
    result TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX idx_measurement_device ON measurement (device, measurement_seq);
CREATE INDEX idx_measurement_architecture ON measurement (architecture_id, measurement_seq);

CREATE TABLE accuracy (
    accuracy_seq BIGSERIAL PRIMARY KEY,
    architecture_id TEXT NOT NULL REFERENCES architecture (architecture_id),
    dataset TEXT NOT NULL,
    accuracy DOUBLE PRECISION NOT NULL,
    epochs BIGINT,
    notes TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX idx_accuracy_dataset ON accuracy (dataset, accuracy_seq);

CREATE TABLE api_token (
    token_seq BIGSERIAL PRIMARY KEY,
    token_id TEXT NOT NULL CONSTRAINT uq_api_token_id UNIQUE,
    name TEXT NOT NULL CONSTRAINT uq_api_token_name UNIQUE,
    scope TEXT NOT NULL CHECK (scope IN ('read', 'write', 'agent', 'admin')),
    secret_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

-- A device runs one job at a time: a second concurrent claim for it fails on this index.
CREATE UNIQUE INDEX idx_job_one_running ON job (device) WHERE state = 'running';
