INSERT INTO doctors (id, name, email, specialty) VALUES
  ('d-2001', 'Dr. Helen Taussig',     'helen.taussig@example.com',     'cardiology'),
  ('d-2002', 'Dr. Rene Favaloro',     'rene.favaloro@example.com',     'cardiology'),
  ('d-2003', 'Dr. Paul Unna',         'paul.unna@example.com',         'dermatology'),
  ('d-2004', 'Dr. Santiago Cajal',    'santiago.cajal@example.com',    'neurology'),
  ('d-2005', 'Dr. Virginia Apgar',    'virginia.apgar@example.com',    'pediatrics'),
  ('d-2006', 'Dr. Abraham Jacobi',    'abraham.jacobi@example.com',    'pediatrics');

-- Every doctor works every day from 2026-12-01 to 2027-02-28, 40 slots a day.
INSERT INTO doctor_days (doctor_id, day, capacity)
SELECT d.id, g.day::date, 40
FROM doctors d
CROSS JOIN generate_series(date '2026-12-01', date '2027-02-28',
                           interval '1 day') AS g (day);
