-- When each machine entered its current state, as the backend saw it (the machine page's
-- "Running since"). Rows from before take their last change, the best there is.
ALTER TABLE machines ADD COLUMN state_since TEXT;
UPDATE machines SET state_since = updated_at;
