//! Shop-wide numbers for admins, read from PostgreSQL at request time in one
//! statement (one snapshot), never from a cache. Used by `GET /api/admin/stats` and
//! the legacy `/stats/*` routes.

use poem_openapi::Object;
use sea_orm::{ConnectionTrait, DbBackend, DbErr, FromQueryResult, Statement};

/// Users.
#[derive(Debug, Clone, Object)]
pub struct UserStats {
    /// Accounts, verified or not.
    pub total: i64,
    /// Accounts whose e-mail is verified.
    pub verified: i64,
}

/// Orders by status.
#[derive(Debug, Clone, Object)]
pub struct OrderStats {
    /// All orders.
    pub total: i64,
    /// `pending`.
    pub pending: i64,
    /// `paid`.
    pub paid: i64,
    /// `shipped`.
    pub shipped: i64,
    /// `delivered`.
    pub delivered: i64,
    /// Deprecated: the same as `delivered` (the state was renamed).
    #[oai(deprecated)]
    pub completed: i64,
    /// `cancelled`.
    pub cancelled: i64,
    /// `refunded`.
    pub refunded: i64,
}

/// The catalogue.
#[derive(Debug, Clone, Object)]
pub struct ProductStats {
    /// Published products (on sale): the only ones customers see.
    pub total: i64,
    /// Published products with no stock.
    pub out_of_stock: i64,
    /// Published products in stock at or below their low-stock threshold.
    pub low_stock: i64,
    /// Archived products.
    pub archived: i64,
    /// Draft products (admins only), not counted in `total`.
    pub draft: i64,
}

/// Money taken.
#[derive(Debug, Clone, Object)]
pub struct RevenueStats {
    /// Sum of the totals of all orders that are not cancelled nor refunded, in cents, present only
    /// while every order is in one currency (0 before the first order). Amounts in
    /// different currencies are never added: with several, this is absent and
    /// `by_currency` has each.
    #[oai(skip_serializing_if_is_none)]
    pub total_cents: Option<i64>,
    /// Currency of the shop's orders; with several, the one with the most orders.
    pub currency: String,
    /// The revenue of each currency orders were placed in, never added across
    /// currencies; ordered by currency code, empty before the first order.
    pub by_currency: Vec<CurrencyRevenue>,
}

impl RevenueStats {
    /// The totals of `by_currency` (ordered by code): the one total when there is one
    /// currency, and the main currency (USD before the first order).
    fn from_currencies(by_currency: Vec<CurrencyRevenue>) -> Self {
        Self {
            total_cents: match by_currency.as_slice() {
                [] => Some(0),
                [one] => Some(one.total_cents),
                _ => None,
            },
            currency: main_currency(&by_currency)
                .map_or_else(|| "USD".to_owned(), |c| c.currency.clone()),
            by_currency,
        }
    }

    /// The revenue in the main currency (the legacy `/stats/revenue` has one number).
    pub fn main_total_cents(&self) -> i64 {
        main_currency(&self.by_currency).map_or(0, |c| c.total_cents)
    }
}

/// The currency with the most orders (the first code among equals).
fn main_currency(by_currency: &[CurrencyRevenue]) -> Option<&CurrencyRevenue> {
    by_currency.iter().rev().max_by_key(|c| c.orders)
}

/// The revenue in one currency.
#[derive(Debug, Clone, Object, serde::Deserialize)]
pub struct CurrencyRevenue {
    /// ISO 4217 code.
    pub currency: String,
    /// Sum of the totals of the orders in this currency that are not cancelled nor refunded, in
    /// its smallest unit.
    pub total_cents: i64,
    /// Orders in this currency that are not cancelled nor refunded.
    pub orders: i64,
}

/// The outbox and the consumers' dead letters.
#[derive(Debug, Clone, Object)]
pub struct PipelineStats {
    /// Events not yet published to Kafka.
    pub outbox_backlog: i64,
    /// Age in seconds of the oldest unpublished event (0 when none).
    pub outbox_oldest_pending_seconds: f64,
    /// Events parked after the broker refused them `OUTBOX_MAX_ATTEMPTS` times
    /// (`api replay-dead-letters` sends them again).
    pub outbox_parked: i64,
    /// Messages the consumers gave up on and wrote to a dead-letter topic.
    pub dead_lettered: i64,
}

/// Everything `GET /api/admin/stats` answers.
#[derive(Debug, Clone, Object)]
pub struct ShopStats {
    /// Users.
    pub users: UserStats,
    /// Orders.
    pub orders: OrderStats,
    /// Products.
    pub products: ProductStats,
    /// Revenue.
    pub revenue: RevenueStats,
    /// Event pipeline.
    pub pipeline: PipelineStats,
}

#[derive(Debug, FromQueryResult)]
struct Row {
    users_total: i64,
    users_verified: i64,
    orders_total: i64,
    orders_pending: i64,
    orders_paid: i64,
    orders_shipped: i64,
    orders_delivered: i64,
    orders_cancelled: i64,
    orders_refunded: i64,
    products_total: i64,
    products_out_of_stock: i64,
    products_low_stock: i64,
    products_archived: i64,
    products_draft: i64,
    revenue_by_currency: String,
    outbox_backlog: i64,
    outbox_oldest_pending_seconds: f64,
    outbox_parked: i64,
    dead_lettered: i64,
}

const QUERY: &str = "
SELECT u.users_total, u.users_verified,
       o.orders_total, o.orders_pending, o.orders_paid, o.orders_shipped,
       o.orders_delivered, o.orders_cancelled, o.orders_refunded,
       p.products_total, p.products_out_of_stock, p.products_low_stock, p.products_archived, p.products_draft,
       x.outbox_backlog, x.outbox_oldest_pending_seconds, x.outbox_parked,
       (SELECT count(*) FROM dead_letters) AS dead_lettered,
       (SELECT COALESCE(jsonb_agg(jsonb_build_object(
                   'currency', currency, 'total_cents', total_cents, 'orders', orders)
                   ORDER BY currency), '[]'::jsonb)::text
        FROM (SELECT currency, sum(total_cents)::int8 AS total_cents, count(*) AS orders
              FROM orders WHERE status NOT IN ('cancelled', 'refunded') GROUP BY currency) c)
           AS revenue_by_currency
FROM (SELECT count(*) AS users_total,
             count(*) FILTER (WHERE is_verified) AS users_verified
      FROM users) u,
     (SELECT count(*) AS orders_total,
             count(*) FILTER (WHERE status = 'pending') AS orders_pending,
             count(*) FILTER (WHERE status = 'paid') AS orders_paid,
             count(*) FILTER (WHERE status = 'shipped') AS orders_shipped,
             count(*) FILTER (WHERE status = 'delivered') AS orders_delivered,
             count(*) FILTER (WHERE status = 'cancelled') AS orders_cancelled,
             count(*) FILTER (WHERE status = 'refunded') AS orders_refunded
      FROM orders) o,
     (SELECT count(*) FILTER (WHERE status = 'published') AS products_total,
             count(*) FILTER (WHERE status = 'published' AND stock = 0) AS products_out_of_stock,
             count(*) FILTER (WHERE status = 'published' AND stock > 0
                              AND stock <= low_stock_threshold) AS products_low_stock,
             count(*) FILTER (WHERE status = 'archived') AS products_archived,
             count(*) FILTER (WHERE status = 'draft') AS products_draft
      FROM products) p,
     (SELECT count(*) FILTER (WHERE failed_at IS NULL) AS outbox_backlog,
             COALESCE(EXTRACT(EPOCH FROM now() - min(created_at) FILTER (WHERE failed_at IS NULL)), 0)::float8
                 AS outbox_oldest_pending_seconds,
             count(*) FILTER (WHERE failed_at IS NOT NULL) AS outbox_parked
      FROM outbox WHERE published_at IS NULL) x";

/// Reads every number in one statement, so they describe one moment.
pub async fn load(db: &impl ConnectionTrait) -> Result<ShopStats, DbErr> {
    let row = Row::find_by_statement(Statement::from_string(DbBackend::Postgres, QUERY))
        .one(db)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("shop statistics".into()))?;
    Ok(ShopStats {
        users: UserStats {
            total: row.users_total,
            verified: row.users_verified,
        },
        orders: OrderStats {
            total: row.orders_total,
            pending: row.orders_pending,
            paid: row.orders_paid,
            shipped: row.orders_shipped,
            delivered: row.orders_delivered,
            completed: row.orders_delivered,
            cancelled: row.orders_cancelled,
            refunded: row.orders_refunded,
        },
        products: ProductStats {
            total: row.products_total,
            out_of_stock: row.products_out_of_stock,
            low_stock: row.products_low_stock,
            archived: row.products_archived,
            draft: row.products_draft,
        },
        revenue: RevenueStats::from_currencies(
            serde_json::from_str(&row.revenue_by_currency)
                .map_err(|e| DbErr::Custom(format!("revenue by currency: {e}")))?,
        ),
        pipeline: PipelineStats {
            outbox_backlog: row.outbox_backlog,
            outbox_oldest_pending_seconds: row.outbox_oldest_pending_seconds,
            outbox_parked: row.outbox_parked,
            dead_lettered: row.dead_lettered,
        },
    })
}
