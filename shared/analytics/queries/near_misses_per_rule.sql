-- Near misses per rule: how often each rule nearly fired, by the one check that stood in its
-- way (what it wanted), with the events it happened to.
SELECT rule,
       check_kind,
       field,
       op,
       wanted,
       count(*) AS near_misses,
       count(DISTINCT helios_id) AS events
FROM near_misses
GROUP BY rule, check_kind, field, op, wanted
ORDER BY rule, near_misses DESC, check_kind NULLS LAST, field NULLS LAST, wanted NULLS LAST
