SELECT
  `c`.`id`
FROM customers AS c
LEFT JOIN (
  SELECT
    `customer_id`,
    COUNT(*) FILTER(WHERE
      COALESCE(LOWER(GET_JSON_OBJECT(`properties`, :p0)) = LOWER(:p1), FALSE)
      AND COALESCE(`at` >= :p2, FALSE)
      AND COALESCE(`at` < :p3, FALSE)) AS a0
  FROM events
  GROUP BY
    `customer_id`
) AS g_events
  ON `g_events`.`customer_id` = `c`.`id`
WHERE
  COALESCE(g_events.a0, 0) > 0
ORDER BY
  `c`.`id`
