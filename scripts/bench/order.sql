-- The order transaction of POST /api/orders, statement for statement, for pgbench.
-- Each pgbench client is its own bench user with its own cart (set up by
-- scripts/bench-orders.sh). Its outbox row is written already published, so the
-- relay leaves it alone.
BEGIN;
SELECT c.id FROM carts c JOIN users u ON u.id = c.user_id
 WHERE u.email = 'pgbench-' || :client_id || '@bench.local' FOR UPDATE OF c;
SELECT ci.product_id, ci.quantity FROM cart_items ci JOIN carts c ON c.id = ci.cart_id JOIN users u ON u.id = c.user_id
 WHERE u.email = 'pgbench-' || :client_id || '@bench.local';
UPDATE products SET stock = stock - 1, version = version + 1, updated_at = now()
 WHERE name = 'pgbench product' AND status = 'active' AND stock >= 1
 RETURNING name, price_cents, currency, stock, low_stock_threshold;
WITH o AS (
  INSERT INTO orders (id, user_id, total_cents, currency)
  SELECT gen_random_uuid(), u.id, 100, 'USD' FROM users u WHERE u.email = 'pgbench-' || :client_id || '@bench.local'
  RETURNING id, created_at
)
INSERT INTO order_items (order_id, product_id, name, unit_price_cents, quantity, line_total_cents)
SELECT o.id, p.id, p.name, 100, 1, 100 FROM o, products p WHERE p.name = 'pgbench product';
DELETE FROM cart_items ci USING carts c, users u
 WHERE ci.cart_id = c.id AND c.user_id = u.id AND u.email = 'pgbench-' || :client_id || '@bench.local';
INSERT INTO outbox (event_id, topic, message_key, payload, published_at)
VALUES (gen_random_uuid(), 'order-placed', 'pgbench', '{"bench": true}', now());
COMMIT;
