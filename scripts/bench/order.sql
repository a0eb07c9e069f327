-- One cycle of the shop's order path for pgbench, statement for statement as the API
-- runs it (keep the two in step: api/src/orders/{service,cart,place}.rs):
-- add one unit to the cart (POST /api/cart/items: check the product, upsert the cart,
-- check the cart's currency, upsert the line, count the lines, check again; one
-- transaction; then read the cart for the answer), then place the order
-- (POST /api/orders; one transaction of five statements whatever the number of lines:
-- buyer, their shipping address and the cart lock, cart lines, all the stock in one UPDATE, order + history + items +
-- empty cart in one statement, outbox). Each client is its own bench user, whose id
-- derives from :client_id (scripts/bench-orders.sh creates them); :product is the
-- bench product (-D product=<uuid>). The outbox row is written already published, so
-- the relay leaves it alone: the reference does none of the pipeline's later work.
-- Ids are random (v4) here and time-ordered (v7) in the API, which is kinder to the
-- indexes: if anything, that flatters the API. Values the API binds from an earlier
-- statement's answer (price, name, total) are written in literally here.
BEGIN;
SELECT name, stock, status, currency FROM products WHERE id = ':product';
INSERT INTO carts (id, user_id)
VALUES (gen_random_uuid(), ('00000000-0000-4000-8000-' || lpad(:client_id::text, 12, '0'))::uuid)
ON CONFLICT (user_id) DO UPDATE SET updated_at = now() RETURNING id AS cart_id \gset
SELECT p.currency FROM cart_items ci JOIN products p ON p.id = ci.product_id
 WHERE ci.cart_id = ':cart_id' AND ci.product_id <> ':product' AND p.currency <> 'USD' LIMIT 1;
INSERT INTO cart_items (id, cart_id, product_id, quantity) VALUES (gen_random_uuid(), ':cart_id', ':product', 1)
ON CONFLICT (cart_id, product_id)
  DO UPDATE SET quantity = cart_items.quantity + EXCLUDED.quantity, updated_at = now()
RETURNING id, quantity;
SELECT count(*) AS lines FROM cart_items WHERE cart_id = ':cart_id';
SELECT name, stock, status, currency FROM products WHERE id = ':product';
COMMIT;
SELECT ci.id, ci.product_id, p.name AS product_name, p.price_cents AS unit_price_cents,
       p.currency, ci.quantity, p.price_cents * ci.quantity AS line_total_cents,
       p.stock AS available
FROM carts c JOIN cart_items ci ON ci.cart_id = c.id JOIN products p ON p.id = ci.product_id
WHERE c.user_id = ('00000000-0000-4000-8000-' || lpad(:client_id::text, 12, '0'))::uuid
ORDER BY ci.added_at, ci.id;

BEGIN;
WITH cart AS (SELECT id FROM carts WHERE user_id = ('00000000-0000-4000-8000-' || lpad(:client_id::text, 12, '0'))::uuid FOR UPDATE)
SELECT u.email, (SELECT id FROM cart) AS cart_id,
       (SELECT jsonb_build_object('name', a.name, 'line1', a.line1, 'line2', a.line2,
                 'city', a.city, 'region', a.region, 'postal_code', a.postal_code,
                 'country', a.country, 'phone', a.phone)::text
        FROM addresses a
        WHERE a.user_id = ('00000000-0000-4000-8000-' || lpad(:client_id::text, 12, '0'))::uuid
          AND CASE WHEN NULL::uuid IS NULL THEN a.is_default_shipping ELSE a.id = NULL::uuid END
       ) AS address
FROM users u
WHERE u.id = ('00000000-0000-4000-8000-' || lpad(:client_id::text, 12, '0'))::uuid \gset
SELECT product_id, quantity FROM cart_items WHERE cart_id = ':cart_id';
WITH wanted AS (
    SELECT w.id, w.quantity FROM unnest('{":product"}'::uuid[], '{"1"}'::int4[]) AS w (id, quantity)
), locked AS (
    SELECT p.id, p.name, p.stock, p.status FROM products p
    WHERE p.id = ANY ('{":product"}'::uuid[]) ORDER BY p.id FOR UPDATE
), taken AS (
    UPDATE products p SET stock = p.stock - w.quantity, updated_at = now()
    FROM wanted w JOIN locked l ON l.id = w.id
    WHERE p.id = w.id AND p.id = ANY ('{":product"}'::uuid[]) AND p.status = 'published' AND p.stock >= w.quantity
    RETURNING p.id, p.price_cents, p.currency, p.stock, p.low_stock_threshold
)
SELECT w.id AS product_id, w.quantity, l.name, l.stock AS stock_now, l.status,
       t.price_cents, t.currency, t.stock AS stock_after, t.low_stock_threshold
FROM wanted w LEFT JOIN locked l ON l.id = w.id LEFT JOIN taken t ON t.id = w.id
ORDER BY w.id;
WITH placed AS (
    INSERT INTO orders (id, user_id, total_cents, currency, note, shipping_address, expires_at)
    VALUES (gen_random_uuid(), ('00000000-0000-4000-8000-' || lpad(:client_id::text, 12, '0'))::uuid, 100, 'USD', NULL,
            ':address'::jsonb, now() + make_interval(secs => 900::float8))
    RETURNING id, number, created_at, expires_at
), history AS (
    INSERT INTO order_history (order_id, from_status, to_status, actor, actor_id, reason, request_id)
    SELECT id, NULL, 'pending', 'customer', ('00000000-0000-4000-8000-' || lpad(:client_id::text, 12, '0'))::uuid,
           'placed', 'pgbench' FROM placed
), lines AS (
    INSERT INTO order_items (order_id, product_id, name, unit_price_cents, quantity, line_total_cents)
    SELECT o.id, l.product_id, l.name, l.unit_price_cents, l.quantity, l.line_total_cents
    FROM placed o,
         unnest('{":product"}'::uuid[], '{"pgbench product"}'::text[], '{"100"}'::int8[], '{"1"}'::int4[], '{"100"}'::int8[]) WITH ORDINALITY
           AS l (product_id, name, unit_price_cents, quantity, line_total_cents, n)
    ORDER BY l.n
), emptied AS (
    DELETE FROM cart_items WHERE cart_id = ':cart_id'
)
SELECT number, created_at, expires_at FROM placed;
INSERT INTO outbox (event_id, topic, message_key, payload, published_at)
VALUES (gen_random_uuid(), 'order-placed', 'pgbench', '{"bench": true}', now());
COMMIT;
