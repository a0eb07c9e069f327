-- One cycle of the shop's order path for pgbench, statement for statement as the API
-- runs it: add one unit to the cart (POST /api/cart/items: check the product, upsert
-- the cart and the line, check again; one transaction), then place the order
-- (POST /api/orders; one transaction). Each client is its own bench user, whose id
-- derives from :client_id (scripts/bench-orders.sh creates them); :product is the
-- bench product (-D product=<uuid>). The outbox row is written already published, so
-- the relay leaves it alone: the reference does none of the pipeline's later work.
-- Ids are random (v4) here and time-ordered (v7) in the API, which is kinder to the
-- indexes: if anything, that flatters the API.
BEGIN;
SELECT name, stock, status FROM products WHERE id = ':product';
INSERT INTO carts (id, user_id)
VALUES (gen_random_uuid(), ('00000000-0000-4000-8000-' || lpad(:client_id::text, 12, '0'))::uuid)
ON CONFLICT (user_id) DO UPDATE SET updated_at = now() RETURNING id AS cart_id \gset
INSERT INTO cart_items (id, cart_id, product_id, quantity) VALUES (gen_random_uuid(), ':cart_id', ':product', 1)
ON CONFLICT (cart_id, product_id)
  DO UPDATE SET quantity = cart_items.quantity + EXCLUDED.quantity, updated_at = now()
RETURNING id, quantity;
SELECT name, stock, status FROM products WHERE id = ':product';
COMMIT;

BEGIN;
SELECT id FROM carts WHERE user_id = ('00000000-0000-4000-8000-' || lpad(:client_id::text, 12, '0'))::uuid FOR UPDATE;
SELECT ci.product_id, ci.quantity FROM cart_items ci JOIN carts c ON c.id = ci.cart_id
 WHERE c.user_id = ('00000000-0000-4000-8000-' || lpad(:client_id::text, 12, '0'))::uuid;
UPDATE products SET stock = stock - 1, updated_at = now()
 WHERE id = ':product' AND status = 'active' AND stock >= 1
 RETURNING name, price_cents, currency, stock, low_stock_threshold;
INSERT INTO orders (id, user_id, total_cents, currency, note)
VALUES (gen_random_uuid(), ('00000000-0000-4000-8000-' || lpad(:client_id::text, 12, '0'))::uuid, 100, 'USD', NULL)
RETURNING id AS order_id, created_at \gset
INSERT INTO order_items (order_id, product_id, name, unit_price_cents, quantity, line_total_cents)
VALUES (':order_id', ':product', 'pgbench product', 100, 1, 100);
DELETE FROM cart_items ci USING carts c
 WHERE ci.cart_id = c.id AND c.user_id = ('00000000-0000-4000-8000-' || lpad(:client_id::text, 12, '0'))::uuid;
INSERT INTO outbox (event_id, topic, message_key, payload, published_at)
VALUES (gen_random_uuid(), 'order-placed', 'pgbench', '{"bench": true}', now());
COMMIT;
