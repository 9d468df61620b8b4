-- Rule firing rates: per day and rule, the decisions the rule fired in, out of all the
-- decisions of that day.
SELECT f.day,
       f.rule,
       count(*) AS fired,
       max(t.decisions) AS decisions,
       round(CAST(count(*) AS DOUBLE) / max(t.decisions), 4) AS rate
FROM fired f
JOIN (SELECT day, count(*) AS decisions FROM decisions GROUP BY day) t ON t.day = f.day
GROUP BY f.day, f.rule
ORDER BY f.day, fired DESC, f.rule
