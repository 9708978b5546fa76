SELECT
  `c`.`id`
FROM customers AS c
LEFT JOIN (
  SELECT
    `customer_id`,
    COUNT(*) FILTER(WHERE
      NOT COALESCE(LOWER(`status`) IN (:p1, :p2, :p3), FALSE)) AS a0,
    SUM(`total`) FILTER(WHERE
      NOT COALESCE(LOWER(`status`) IN (:p1, :p2, :p3), FALSE)) AS a1,
    COUNT(`total`) FILTER(WHERE
      NOT COALESCE(LOWER(`status`) IN (:p1, :p2, :p3), FALSE)) AS a2
  FROM orders
  WHERE
    NOT COALESCE(LOWER(`status`) IN (:p1, :p2, :p3), FALSE)
  GROUP BY
    `customer_id`
) AS g_orders
  ON `g_orders`.`customer_id` = `c`.`id`
WHERE
  EXISTS(`c`.`tags`, x -> LOWER(x) = :p0)
  AND (
    COALESCE(g_orders.a0, 0) >= :p4
    OR EXISTS(
      SELECT
        1
      FROM segment_members AS m
      WHERE
        m.segment_code = :p5 AND m.customer_id = c.id
    )
  )
  AND (
    COALESCE(g_orders.a2, 0) > 0 AND g_orders.a1 > :p6 * g_orders.a2
  )
  AND NOT COALESCE(RIGHT(LOWER(`c`.`email`), LENGTH(:p7)) = :p7, FALSE)
  AND LOWER(`c`.`region`) < :p8
ORDER BY
  `c`.`id`
