-- The measured part of `gmbench compare --programs sqlite` (harness/programs.c): joins,
-- grouping, sorting, an index build and string work on the database of sqlite_build.sql.
PRAGMA cache_size = -65536;
SELECT c.region, count(*), round(sum(o.amount), 2) FROM orders o JOIN customer c ON c.id = o.customer
GROUP BY c.region ORDER BY 3 DESC LIMIT 5;
CREATE INDEX orders_customer ON orders(customer, amount);
SELECT name, total FROM (SELECT c.name, sum(o.amount) AS total FROM customer c
  JOIN orders o ON o.customer = c.id GROUP BY c.id) ORDER BY total DESC, name LIMIT 5;
SELECT count(DISTINCT note), max(length(note)) FROM orders;
SELECT substr(note, 1, 6) AS p, count(*) FROM orders GROUP BY p ORDER BY 2 DESC, 1 LIMIT 3;
SELECT group_concat(name, ',') IS NOT NULL FROM (SELECT name FROM customer ORDER BY name DESC);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000)
SELECT count(*), sum(length(printf('%08d-%s', x, hex(x)))) FROM c;
SELECT o.customer, count(*) FROM orders o WHERE o.amount > 500 GROUP BY o.customer
ORDER BY 2 DESC, 1 LIMIT 3;
