-- The closed loop of a search (verify with refine): its state and every round. The state is
-- here, not in a server's memory, so that any replica carries the loop on and a restarted
-- server resumes it; a replica advancing a loop holds it until lease_until.
CREATE TABLE refinement (
    search_id TEXT PRIMARY KEY REFERENCES search (search_id),
    max_rounds BIGINT NOT NULL,
    protocol TEXT NOT NULL,
    state TEXT NOT NULL,
    lease_until BIGINT,
    updated_at BIGINT NOT NULL
);

-- One round: the fits used, the winner, per device predicted, bound, limit, measured (JSON).
CREATE TABLE refinement_round (
    search_id TEXT NOT NULL REFERENCES search (search_id),
    round BIGINT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (search_id, round)
);
