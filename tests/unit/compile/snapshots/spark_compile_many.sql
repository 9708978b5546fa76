SELECT
  `c`.`id` AS id,
  COALESCE(COALESCE(g_orders.a0, 0) > :p2, FALSE) AS r_0,
  COALESCE(
    EXISTS(`c`.`tags`, x -> LOWER(x) = :p3)
    AND (
      COALESCE(g_orders.a1, 0) >= :p7
      OR EXISTS(
        SELECT
          1
        FROM segment_members AS m
        WHERE
          m.segment_code = :p8 AND m.customer_id = c.id
      )
    )
    AND (
      COALESCE(g_orders.a3, 0) > 0 AND g_orders.a2 > :p9 * g_orders.a3
    )
    AND NOT COALESCE(RIGHT(LOWER(`c`.`email`), LENGTH(:p10)) = :p10, FALSE)
    AND LOWER(`c`.`region`) < :p11,
    FALSE
  ) AS r_1,
  COALESCE(COALESCE(g_events.a0, 0) > 0, FALSE) AS r_2
FROM customers AS c
LEFT JOIN (
  SELECT
    `customer_id`,
    SUM(`total`) FILTER(WHERE
      `placed_at` > :p0 AND `placed_at` <= :p1) AS a0,
    COUNT(*) FILTER(WHERE
      NOT COALESCE(LOWER(`status`) IN (:p4, :p5, :p6), FALSE)) AS a1,
    SUM(`total`) FILTER(WHERE
      NOT COALESCE(LOWER(`status`) IN (:p4, :p5, :p6), FALSE)) AS a2,
    COUNT(`total`) FILTER(WHERE
      NOT COALESCE(LOWER(`status`) IN (:p4, :p5, :p6), FALSE)) AS a3
  FROM orders
  WHERE
    (
      `placed_at` > :p0 AND `placed_at` <= :p1
    )
    OR NOT COALESCE(LOWER(`status`) IN (:p4, :p5, :p6), FALSE)
  GROUP BY
    `customer_id`
) AS g_orders
  ON `g_orders`.`customer_id` = `c`.`id`
LEFT JOIN (
  SELECT
    `customer_id`,
    COUNT(*) FILTER(WHERE
      LOWER(GET_JSON_OBJECT(`properties`, :p12)) = :p13 AND `at` >= :p14 AND `at` < :p15) AS a0
  FROM events
  WHERE
    (
      LOWER(GET_JSON_OBJECT(`properties`, :p12)) = :p13 AND `at` >= :p14 AND `at` < :p15
    )
  GROUP BY
    `customer_id`
) AS g_events
  ON `g_events`.`customer_id` = `c`.`id`
ORDER BY
  `c`.`id`
