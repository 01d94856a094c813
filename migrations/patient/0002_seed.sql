INSERT INTO patients (id, name, email, active) VALUES
  ('p-1001', 'Ada Lovelace',      'ada.lovelace@example.com',      true),
  ('p-1002', 'Alan Turing',       'alan.turing@example.com',       true),
  ('p-1003', 'Charles Babbage',   'charles.babbage@example.com',   false),
  ('p-1004', 'Grace Hopper',      'grace.hopper@example.com',      true),
  ('p-1005', 'Edsger Dijkstra',   'edsger.dijkstra@example.com',   true),
  ('p-1006', 'Barbara Liskov',    'barbara.liskov@example.com',    true);
