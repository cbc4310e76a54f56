-- Fitted models (versioned per device and metric, or per data set) and searches.

CREATE TABLE hardware_model (
    model_seq INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id TEXT NOT NULL CONSTRAINT uq_hardware_model_id UNIQUE,
    device TEXT NOT NULL REFERENCES device (name),
    metric TEXT NOT NULL,
    version BIGINT NOT NULL,
    fit TEXT NOT NULL,
    samples TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    CONSTRAINT uq_hardware_model_version UNIQUE (device, metric, version)
);

CREATE TABLE accuracy_model (
    model_seq INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id TEXT NOT NULL CONSTRAINT uq_accuracy_model_id UNIQUE,
    dataset TEXT NOT NULL,
    space TEXT,
    version BIGINT NOT NULL,
    fit TEXT NOT NULL,
    samples TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    CONSTRAINT uq_accuracy_model_version UNIQUE (dataset, space, version)
);

CREATE TABLE search (
    search_seq INTEGER PRIMARY KEY AUTOINCREMENT,
    search_id TEXT NOT NULL CONSTRAINT uq_search_id UNIQUE,
    request TEXT NOT NULL,
    fits TEXT NOT NULL,
    result TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Jobs queued to verify a search's winners.
CREATE TABLE search_verification (
    search_id TEXT NOT NULL REFERENCES search (search_id),
    architecture_id TEXT NOT NULL REFERENCES architecture (architecture_id),
    device TEXT NOT NULL REFERENCES device (name),
    job_id TEXT NOT NULL REFERENCES job (job_id),
    rank BIGINT NOT NULL,
    CONSTRAINT uq_search_verification UNIQUE (search_id, architecture_id, device)
);
