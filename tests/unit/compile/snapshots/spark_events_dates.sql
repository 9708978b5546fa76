SELECT
  `c`.`id`
FROM customers AS c
LEFT JOIN (
  SELECT
    `customer_id`,
    COUNT(*) FILTER(WHERE
      LOWER(GET_JSON_OBJECT(`properties`, :p0)) = :p1 AND `at` >= :p2 AND `at` < :p3) AS a0
  FROM events
  WHERE
    (
      LOWER(GET_JSON_OBJECT(`properties`, :p0)) = :p1 AND `at` >= :p2 AND `at` < :p3
    )
  GROUP BY
    `customer_id`
) AS g_events
  ON `g_events`.`customer_id` = `c`.`id`
WHERE
  COALESCE(g_events.a0, 0) > 0
ORDER BY
  `c`.`id`
