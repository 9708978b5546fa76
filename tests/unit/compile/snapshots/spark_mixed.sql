SELECT
  `c`.`id`
FROM customers AS c
LEFT JOIN (
  SELECT
    `customer_id`,
    COUNT(*) FILTER(WHERE
      NOT (
        COALESCE(LOWER(`status`) IN (LOWER(:p1), LOWER(:p2), LOWER(:p3)), FALSE)
      )) AS a0,
    SUM(`total`) FILTER(WHERE
      NOT (
        COALESCE(LOWER(`status`) IN (LOWER(:p1), LOWER(:p2), LOWER(:p3)), FALSE)
      )) AS a1,
    COUNT(`total`) FILTER(WHERE
      NOT (
        COALESCE(LOWER(`status`) IN (LOWER(:p1), LOWER(:p2), LOWER(:p3)), FALSE)
      )) AS a2
  FROM orders
  GROUP BY
    `customer_id`
) AS g_orders
  ON `g_orders`.`customer_id` = `c`.`id`
WHERE
  COALESCE(EXISTS(`c`.`tags`, x -> LOWER(x) = LOWER(:p0)), FALSE)
  AND (
    COALESCE(COALESCE(g_orders.a0, 0) >= :p4, FALSE)
    OR EXISTS(
      SELECT
        1
      FROM segment_members AS m
      WHERE
        m.segment_code = :p5 AND m.customer_id = c.id
    )
  )
  AND COALESCE(COALESCE(g_orders.a2, 0) > 0 AND g_orders.a1 > :p6 * g_orders.a2, FALSE)
  AND NOT (
    COALESCE(RIGHT(LOWER(`c`.`email`), LENGTH(LOWER(:p7))) = LOWER(:p7), FALSE)
  )
  AND COALESCE(LOWER(`c`.`region`) < LOWER(:p8), FALSE)
ORDER BY
  `c`.`id`
