-- A retired key never signs again, so its private half is destroyed when it is retired: a later
-- leak of the table (a backup, a replica) cannot forge tokens under an old key id. The public
-- half stays, so an auditor can still tell which key signed an old token.
ALTER TABLE signing_keys ALTER COLUMN private_key DROP NOT NULL;
UPDATE signing_keys SET private_key = NULL WHERE retired_at IS NOT NULL;
ALTER TABLE signing_keys ADD CONSTRAINT signing_keys_private_half_until_retired
    CHECK ((retired_at IS NULL) = (private_key IS NOT NULL));
