-- The idempotency records are in migrations/participant_common. This file
-- created them too before they moved there; databases that applied it then
-- recorded its checksum:
-- valid-checksum: a72bb6d733a2efb0033e0a8cda39428c

CREATE TABLE patients (
  id     text PRIMARY KEY,
  name   text NOT NULL,
  email  text NOT NULL,
  active boolean NOT NULL DEFAULT true
);
