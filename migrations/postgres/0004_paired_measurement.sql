-- Paired measurements: the reference network timed alternately with the network under test.
-- reference_p50_ms is the device's speed history (its reference latency is the median of the
-- latest ones); ratio_p50 times that latency is the normalized latency. NULL when unpaired.
ALTER TABLE measurement ADD COLUMN reference_id TEXT;
ALTER TABLE measurement ADD COLUMN reference_p50_ms DOUBLE PRECISION;
ALTER TABLE measurement ADD COLUMN ratio_p50 DOUBLE PRECISION;
CREATE INDEX idx_measurement_reference ON measurement (device, reference_id, measurement_seq)
    WHERE reference_id IS NOT NULL;
