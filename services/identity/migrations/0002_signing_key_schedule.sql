-- Key rotation: a new key is published (in the JWKS) before it signs, from `signs_from` on, so
-- every verifier knows it before the first token it signed shows up.
ALTER TABLE signing_keys ADD COLUMN signs_from timestamptz;
UPDATE signing_keys SET signs_from = created_at;
ALTER TABLE signing_keys ALTER COLUMN signs_from SET NOT NULL;
-- A key never signs before it exists: the previous key signed until the next one's signs_from,
-- which is what retirement counts from.
ALTER TABLE signing_keys ADD CONSTRAINT signing_keys_signs_after_creation CHECK (signs_from >= created_at);
