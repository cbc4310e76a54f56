-- An agent token may be bound to one device: it then acts for that device only.
ALTER TABLE api_token ADD COLUMN device TEXT;
