-- Idempotency records: identical in every participant database (patient,
-- doctor, email). See participants/common/idempotent_runner.h.
CREATE TABLE idempotency_keys (
  key        text PRIMARY KEY,
  saga_id    text NOT NULL,
  step       text NOT NULL,
  action     text NOT NULL,
  kind       text NOT NULL
             CHECK (kind IN ('execute', 'compensate', 'tombstone')),
  outcome    text NOT NULL
             CHECK (outcome IN ('pending', 'succeeded', 'business_failure', 'none')),
  output     jsonb,
  error      text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idempotency_keys_saga_id ON idempotency_keys (saga_id);


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
