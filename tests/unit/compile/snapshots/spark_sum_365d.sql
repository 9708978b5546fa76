SELECT
  `c`.`id`
FROM customers AS c
LEFT JOIN (
  SELECT
    `customer_id`,
    SUM(`total`) FILTER(WHERE
      `placed_at` > :p0 AND `placed_at` <= :p1) AS a0
  FROM orders
  WHERE
    (
      `placed_at` > :p0 AND `placed_at` <= :p1
    )
  GROUP BY
    `customer_id`
) AS g_orders
  ON `g_orders`.`customer_id` = `c`.`id`
WHERE
  COALESCE(g_orders.a0, 0) > :p2
ORDER BY
  `c`.`id`
