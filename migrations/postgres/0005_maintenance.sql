-- One-time data maintenance done at start (for example recomputing metrics stored by an
-- earlier version), so that it is not looked for again on every start.
CREATE TABLE maintenance (
    task TEXT PRIMARY KEY,
    done_at BIGINT NOT NULL
);
