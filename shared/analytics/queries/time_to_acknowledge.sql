-- Time to acknowledge: per rule (the first that fired in the decision), the decisions
-- acknowledged and the seconds from the decision to the acknowledgement (whole seconds).
SELECT f.rule,
       count(*) AS acknowledged,
       round(avg(floor(to_unixtime(a.recorded_at)) - floor(to_unixtime(d.decided_at))), 1) AS avg_seconds,
       max(floor(to_unixtime(a.recorded_at)) - floor(to_unixtime(d.decided_at))) AS max_seconds
FROM outcomes a
JOIN decisions d ON d.id = a.decision_id
JOIN fired f ON f.decision_id = d.id AND f.position = 0
WHERE a.kind = 'acknowledged'
GROUP BY f.rule
ORDER BY f.rule
