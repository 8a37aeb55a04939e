-- The database of `gmbench compare --programs sqlite` (harness/programs.c), built once per run
-- before the measurement, with no allocator preloaded.
PRAGMA journal_mode = OFF;
PRAGMA synchronous = OFF;
CREATE TABLE customer(id INTEGER PRIMARY KEY, name TEXT, region INTEGER);
CREATE TABLE orders(id INTEGER PRIMARY KEY, customer INTEGER, amount REAL, note TEXT);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000)
INSERT INTO customer SELECT x, 'customer-' || x, x % 50 FROM c;
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000)
INSERT INTO orders SELECT x, (x * 7919) % 20000 + 1, (x * 104729) % 100000 / 100.0,
                          hex(zeroblob(8 + x % 24)) || x FROM c;
