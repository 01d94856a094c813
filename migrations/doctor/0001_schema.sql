-- The idempotency records are in migrations/participant_common. This file
-- created them too before they moved there; databases that applied it then
-- recorded its checksum:
-- valid-checksum: abc785361ae5909da6f06d39e3c866e2

CREATE TABLE doctors (
  id        text PRIMARY KEY,
  name      text NOT NULL,
  email     text NOT NULL,
  specialty text NOT NULL
);
CREATE INDEX doctors_specialty ON doctors (specialty);

-- One row per doctor and working day. The CHECK is the last line of defence
-- against double booking; reserve_doctor locks the row before booking.
CREATE TABLE doctor_days (
  doctor_id text NOT NULL REFERENCES doctors (id),
  day       date NOT NULL,
  capacity  int  NOT NULL CHECK (capacity >= 0),
  booked    int  NOT NULL DEFAULT 0,
  PRIMARY KEY (doctor_id, day),
  CHECK (booked BETWEEN 0 AND capacity)
);
CREATE INDEX doctor_days_day ON doctor_days (day);

CREATE SEQUENCE reservation_numbers;

CREATE TABLE reservations (
  reservation_id  text PRIMARY KEY,
  -- The Execute's idempotency key: release_reservation finds the
  -- reservation by it.
  idempotency_key text NOT NULL UNIQUE,
  saga_id         text NOT NULL,
  patient_id      text NOT NULL,
  doctor_id       text NOT NULL REFERENCES doctors (id),
  day             date NOT NULL,
  status          text NOT NULL CHECK (status IN ('active', 'released')),
  created_at      timestamptz NOT NULL DEFAULT now(),
  released_at     timestamptz
);
CREATE INDEX reservations_saga_id ON reservations (saga_id);
