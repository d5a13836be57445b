-- A random value given to a client each time it is created; every token
-- carries it in its jti, and a token whose value differs from the stored
-- client's is invalid. So a client deleted and created again under the same
-- id does not bring back the tokens issued before the deletion. Rows created
-- before this migration keep '' ("legacy"), which matches only the tokens
-- issued before it (a jti without a '.').
ALTER TABLE clients ADD COLUMN incarnation TEXT NOT NULL DEFAULT '';
