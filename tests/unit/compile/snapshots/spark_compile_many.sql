SELECT
  `c`.`id` AS id,
  COALESCE(COALESCE(g_orders.a0, 0) > :p2, FALSE) AS r_0,
  COALESCE(EXISTS(`c`.`tags`, x -> LOWER(x) = LOWER(:p3)), FALSE)
  AND (
    COALESCE(COALESCE(g_orders.a1, 0) >= :p7, FALSE)
    OR EXISTS(
      SELECT
        1
      FROM segment_members AS m
      WHERE
        m.segment_code = :p8 AND m.customer_id = c.id
    )
  )
  AND COALESCE(COALESCE(g_orders.a3, 0) > 0 AND g_orders.a2 > :p9 * g_orders.a3, FALSE)
  AND NOT (
    COALESCE(RIGHT(LOWER(`c`.`email`), LENGTH(LOWER(:p10))) = LOWER(:p10), FALSE)
  )
  AND COALESCE(LOWER(`c`.`region`) < LOWER(:p11), FALSE) AS r_1,
  COALESCE(g_events.a0, 0) > 0 AS r_2
FROM customers AS c
LEFT JOIN (
  SELECT
    `customer_id`,
    SUM(`total`) FILTER(WHERE
      COALESCE(`placed_at` > :p0 AND `placed_at` <= :p1, FALSE)) AS a0,
    COUNT(*) FILTER(WHERE
      NOT (
        COALESCE(LOWER(`status`) IN (LOWER(:p4), LOWER(:p5), LOWER(:p6)), FALSE)
      )) AS a1,
    SUM(`total`) FILTER(WHERE
      NOT (
        COALESCE(LOWER(`status`) IN (LOWER(:p4), LOWER(:p5), LOWER(:p6)), FALSE)
      )) AS a2,
    COUNT(`total`) FILTER(WHERE
      NOT (
        COALESCE(LOWER(`status`) IN (LOWER(:p4), LOWER(:p5), LOWER(:p6)), FALSE)
      )) AS a3
  FROM orders
  GROUP BY
    `customer_id`
) AS g_orders
  ON `g_orders`.`customer_id` = `c`.`id`
LEFT JOIN (
  SELECT
    `customer_id`,
    COUNT(*) FILTER(WHERE
      COALESCE(LOWER(GET_JSON_OBJECT(`properties`, :p12)) = LOWER(:p13), FALSE)
      AND COALESCE(`at` >= :p14, FALSE)
      AND COALESCE(`at` < :p15, FALSE)) AS a0
  FROM events
  GROUP BY
    `customer_id`
) AS g_events
  ON `g_events`.`customer_id` = `c`.`id`
ORDER BY
  `c`.`id`
