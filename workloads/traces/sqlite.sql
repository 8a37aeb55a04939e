-- The SQL of workloads/traces/sqlite.gmtrace: build, index, query, update and delete a table
-- of 20,000 rows in an in-memory database.
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, score REAL, blob TEXT);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000)
INSERT INTO t SELECT x, 'name-' || (x * 7919 % 10007), x % 97, (x * 31 % 1000) / 7.0,
                     substr(hex(randomblob(64)), 1, 10 + x % 100) FROM c;
CREATE INDEX t_grp ON t(grp, score);
CREATE INDEX t_name ON t(name);
SELECT grp, count(*), avg(score), max(length(blob)) FROM t GROUP BY grp ORDER BY 3 DESC LIMIT 5;
SELECT name, score FROM t WHERE grp = 42 ORDER BY score DESC LIMIT 10;
UPDATE t SET blob = blob || blob WHERE id % 3 = 0;
DELETE FROM t WHERE id % 5 = 0;
SELECT count(*), sum(length(blob)) FROM t;
SELECT a.grp, count(*) FROM t a JOIN t b ON a.grp = b.grp AND a.id < b.id AND b.id < a.id + 50
GROUP BY a.grp ORDER BY 2 DESC LIMIT 3;
VACUUM;
