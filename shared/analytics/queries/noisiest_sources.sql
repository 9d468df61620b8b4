-- Noisiest sources: the 20 sources that sent the most events, with how many types they sent
-- and how many of their events a rule acted on.
SELECT s.source,
       s.family,
       count(*) AS events,
       count(DISTINCT s.type) AS types,
       count(d.helios_id) AS acted_on
FROM facts s
LEFT JOIN (SELECT DISTINCT helios_id FROM decisions WHERE rules_fired > 0) d
  ON d.helios_id = s.helios_id
GROUP BY s.source, s.family
ORDER BY events DESC, s.source
LIMIT 20
