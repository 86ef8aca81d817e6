//! The port to the orders table, and its in-memory adapter.

use secure_lambda::aws::AwsFailure;
use std::future::Future;

use secure_lambda::tenant::cursor::PageKey;
use secure_lambda::tenant::{order_sort_key, Identity, PARTITION_KEY, SORT_KEY};

/// One order as callers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// The sort key without `ORDER#`.
    pub order_id: String,
    /// As stored, a decimal string (`149.99`).
    pub total: String,
    pub status: String,
}

/// One `Query` page.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Page {
    pub orders: Vec<Order>,
    /// Where the next page starts (`LastEvaluatedKey`), if the table has more.
    pub last_key: Option<PageKey>,
}

/// Why the table could not be read. The message names no value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// `AssumeRole` for tenant-scoped credentials failed.
    #[error("tenant-scoped credentials could not be obtained: {}", .0.detail)]
    Credentials(AwsFailure),
    /// The DynamoDB query failed.
    #[error("the orders query failed: {}", .0.detail)]
    Query(AwsFailure),
    /// The table or STS answered something the function cannot use.
    #[error("the orders store answered something unusable: {0}")]
    Invalid(String),
}

/// At most this many table pages are read for one answer; a user whose orders span more gets a
/// cursor to the rest.
pub const MAX_PAGES_PER_ANSWER: usize = 50;

/// What one answer gets from the store: at most the orders asked for, and where the next answer
/// starts if more remain.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Orders {
    pub orders: Vec<Order>,
    pub next: Option<PageKey>,
}

/// The table key of `identity`'s order `order_id`, as `LastEvaluatedKey` would give it.
pub fn order_key(identity: &Identity, order_id: &str) -> PageKey {
    PageKey::from([
        (PARTITION_KEY.to_owned(), identity.partition_key()),
        (SORT_KEY.to_owned(), order_sort_key(order_id)),
    ])
}

/// Reads one user's orders: `PK = <identity's key> AND begins_with(SK, "ORDER#")`.
pub trait OrderStore: Send + Sync {
    /// One table page of at most `limit` items from `start`.
    fn query(
        &self,
        identity: &Identity,
        limit: usize,
        start: Option<PageKey>,
    ) -> impl Future<Output = Result<Page, StoreError>> + Send;

    /// At most `limit` orders from `start`, over as many table pages as it takes (at most
    /// [`MAX_PAGES_PER_ANSWER`]), with the key the next answer starts from when more remain.
    /// One more order than wanted is asked for, so that a last page is never empty.
    fn orders(
        &self,
        identity: &Identity,
        limit: usize,
        mut start: Option<PageKey>,
    ) -> impl Future<Output = Result<Orders, StoreError>> + Send
    where
        Self: Sized,
    {
        async move {
            let mut orders: Vec<Order> = Vec::with_capacity(limit.min(128));
            let mut next: Option<PageKey> = None;
            for _ in 0..MAX_PAGES_PER_ANSWER {
                let want = limit - orders.len();
                let page = self.query(identity, want + 1, start.take()).await?;
                if page.orders.len() > want {
                    orders.extend(page.orders.into_iter().take(want));
                    next = orders
                        .last()
                        .map(|last| order_key(identity, &last.order_id));
                    break;
                }
                orders.extend(page.orders);
                match page.last_key {
                    Some(key) if orders.len() < limit => start = Some(key),
                    Some(key) => {
                        next = Some(key);
                        break;
                    }
                    None => break,
                }
            }
            if start.is_some() && next.is_none() {
                // The page budget ran out with more to read: hand the rest to the next answer.
                next = start;
            }
            Ok(Orders { orders, next })
        }
    }
}

#[cfg(test)]
pub use memory::MemoryOrders;

#[cfg(test)]
mod memory {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use secure_lambda::tenant::ORDER_SORT_PREFIX;

    use super::*;

    /// Orders in memory, keyed like the table; pages of at most `page_size` items (as DynamoDB's
    /// 1 MB pages would cut them), for handler tests.
    #[derive(Debug, Default)]
    pub struct MemoryOrders {
        items: Mutex<BTreeMap<(String, String), Order>>,
        pub page_size: usize,
        queries: Mutex<Vec<String>>,
        failures: Mutex<Vec<StoreError>>,
    }

    impl MemoryOrders {
        pub fn with_page_size(page_size: usize) -> Self {
            Self {
                page_size,
                ..Self::default()
            }
        }

        pub fn insert(&self, partition_key: &str, order: Order) {
            let sort_key = format!("{ORDER_SORT_PREFIX}{}", order.order_id);
            if let Ok(mut items) = self.items.lock() {
                items.insert((partition_key.to_owned(), sort_key), order);
            }
        }

        /// Makes the next queries fail with `errors`, in order.
        pub fn fail_next(&self, errors: Vec<StoreError>) {
            if let Ok(mut failures) = self.failures.lock() {
                *failures = errors.into_iter().rev().collect();
            }
        }

        /// The partition keys queried so far.
        pub fn queries(&self) -> Vec<String> {
            self.queries.lock().map(|q| q.clone()).unwrap_or_default()
        }
    }

    impl OrderStore for MemoryOrders {
        async fn query(
            &self,
            identity: &Identity,
            limit: usize,
            start: Option<PageKey>,
        ) -> Result<Page, StoreError> {
            let pk = identity.partition_key();
            if let Ok(mut queries) = self.queries.lock() {
                queries.push(pk.clone());
            }
            if let Some(error) = self.failures.lock().ok().and_then(|mut f| f.pop()) {
                return Err(error);
            }
            let items = self.items.lock().map_err(|_| {
                StoreError::Invalid("the in-memory store's lock is poisoned".into())
            })?;
            let after = start.and_then(|k| k.get("SK").cloned());
            let page_size = if self.page_size == 0 {
                usize::MAX
            } else {
                self.page_size
            };
            let mut page = Page::default();
            let mut last = None;
            for ((item_pk, sk), order) in items.iter() {
                if *item_pk != pk || !sk.starts_with(ORDER_SORT_PREFIX) {
                    continue;
                }
                if after.as_ref().is_some_and(|a| sk <= a) {
                    continue;
                }
                if page.orders.len() == limit.min(page_size) {
                    page.last_key = last;
                    return Ok(page);
                }
                page.orders.push(order.clone());
                last = Some(PageKey::from([
                    ("PK".to_owned(), pk.clone()),
                    ("SK".to_owned(), sk.clone()),
                ]));
            }
            Ok(page)
        }
    }
}
