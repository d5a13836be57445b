ALTER TABLE clients DROP COLUMN incarnation;
