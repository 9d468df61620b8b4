-- Advice that was followed: per rule (the first that fired in the decision), the decisions
-- that got an advisory note, how many of them were acknowledged after it (followed), how
-- many escalated instead, and the notes' mean confidence.
SELECT f.rule,
       count(*) AS advised,
       count(k.decision_id) AS followed,
       count(e.decision_id) AS escalated,
       round(CAST(count(k.decision_id) AS DOUBLE) / count(*), 4) AS followed_rate,
       round(avg(v.confidence), 2) AS avg_confidence
FROM (SELECT decision_id, min(recorded_at) AS advised_at, avg(confidence) AS confidence
        FROM outcomes WHERE kind = 'advice' GROUP BY decision_id) v
JOIN fired f ON f.decision_id = v.decision_id AND f.position = 0
LEFT JOIN (SELECT decision_id, max(recorded_at) AS acked_at
             FROM outcomes WHERE kind = 'acknowledged' GROUP BY decision_id) k
  ON k.decision_id = v.decision_id AND k.acked_at >= v.advised_at
LEFT JOIN (SELECT DISTINCT decision_id FROM outcomes WHERE kind = 'outcome' AND escalated) e
  ON e.decision_id = v.decision_id
GROUP BY f.rule
ORDER BY f.rule
