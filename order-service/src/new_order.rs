//! A `create_order` request, validated: what may be placed, and the key that
//! makes placing it idempotent.

use std::collections::BTreeMap;

use contracts::orders::CreateOrder;
use uuid::Uuid;

use crate::error::Error;

use contracts::limits::{MAX_IDEMPOTENCY_KEY_CHARS, MAX_LINES, MAX_QUANTITY, MAX_SKU_CHARS};

/// A validated order request. Lines are merged by SKU and sorted, which is
/// also the order rows are locked in, so concurrent orders cannot deadlock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    pub user_id: Uuid,
    pub lines: BTreeMap<String, i64>,
    pub idempotency_key: String,
    pub fingerprint: String,
}

impl NewOrder {
    /// `message_id` keys the order when the client sent no Idempotency-Key,
    /// so a redelivered message finds the order its first delivery placed.
    pub fn parse(req: CreateOrder, message_id: &str) -> Result<Self, Error> {
        let user_id = req.user_id;
        if req.items.is_empty() {
            return Err(Error::Invalid(
                "items must list at least one product".into(),
            ));
        }
        if req.items.len() > MAX_LINES {
            return Err(Error::Invalid(format!(
                "items may list at most {MAX_LINES} lines"
            )));
        }
        let mut lines = BTreeMap::new();
        for line in req.items {
            let sku = line.sku.trim().to_owned();
            if sku.is_empty() {
                return Err(Error::Invalid("every item needs a sku".into()));
            }
            // Checked here, not left to the catalogue look-up: Postgres
            // refuses a NUL in text with an error, not a miss.
            if sku.chars().count() > MAX_SKU_CHARS || sku.chars().any(char::is_control) {
                return Err(Error::Invalid(format!(
                    "a sku is at most {MAX_SKU_CHARS} characters, without control characters"
                )));
            }
            if !(1..=MAX_QUANTITY).contains(&line.quantity) {
                return Err(Error::Invalid(format!(
                    "quantity of {sku} must be between 1 and {MAX_QUANTITY}, got {}",
                    line.quantity
                )));
            }
            let total = lines.entry(sku.clone()).or_insert(0);
            *total += line.quantity;
            if *total > MAX_QUANTITY {
                return Err(Error::Invalid(format!(
                    "quantity of {sku} must be at most {MAX_QUANTITY} in all"
                )));
            }
        }
        let idempotency_key = match req.idempotency_key {
            // The gateway lets only visible ASCII through; checked again
            // here, as the SKU is, because a NUL would reach Postgres.
            Some(key)
                if key.is_empty()
                    || key.chars().count() > MAX_IDEMPOTENCY_KEY_CHARS
                    || key.chars().any(char::is_control) =>
            {
                return Err(Error::Invalid(format!(
                    "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} characters, \
                     without control characters"
                )));
            }
            // Scoped by user: two users' keys never collide.
            Some(key) => format!("key:{user_id}:{key}"),
            None if !message_id.is_empty() => format!("msg:{message_id}"),
            None => format!("none:{}", Uuid::now_v7()),
        };
        let fingerprint = std::iter::once(user_id.to_string())
            .chain(lines.iter().map(|(sku, q)| format!("{sku}x{q}")))
            .collect::<Vec<_>>()
            .join(",");
        Ok(Self {
            user_id,
            lines,
            idempotency_key,
            fingerprint,
        })
    }

    /// What the order costs at `prices` (cents per SKU, from the
    /// reservation). Checked: a total past `i64` is a clear refusal, never a
    /// wrapped — negative, or small — amount charged.
    pub fn total(&self, prices: &std::collections::HashMap<String, i64>) -> Result<i64, Error> {
        self.lines
            .iter()
            .try_fold(0_i64, |sum, (sku, quantity)| {
                prices.get(sku)?.checked_mul(*quantity)?.checked_add(sum)
            })
            .ok_or_else(|| {
                Error::Invalid(
                    "the order's total is larger than any amount this shop handles".into(),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use contracts::orders::OrderLine;

    use super::*;

    fn request(items: &[(&str, i64)], key: Option<&str>) -> CreateOrder {
        CreateOrder {
            user_id: Uuid::parse_str("0191e5f0-7a1e-7cc3-8f0e-8d1f4a2b3c4d").unwrap(),
            items: items
                .iter()
                .map(|(sku, quantity)| OrderLine {
                    sku: (*sku).into(),
                    quantity: *quantity,
                })
                .collect(),
            idempotency_key: key.map(Into::into),
        }
    }

    #[test]
    fn merges_lines_of_one_sku_and_sorts_them() {
        let new =
            NewOrder::parse(request(&[("MUG", 1), ("CAP", 2), ("MUG", 3)], None), "m1").unwrap();
        assert_eq!(
            new.lines.into_iter().collect::<Vec<_>>(),
            [("CAP".into(), 2), ("MUG".into(), 4)]
        );
    }

    #[test]
    fn keys_by_the_clients_key_scoped_by_user_else_by_message_id() {
        let keyed = NewOrder::parse(request(&[("MUG", 1)], Some("k")), "m1").unwrap();
        assert_eq!(
            keyed.idempotency_key,
            "key:0191e5f0-7a1e-7cc3-8f0e-8d1f4a2b3c4d:k"
        );
        let unkeyed = NewOrder::parse(request(&[("MUG", 1)], None), "m1").unwrap();
        assert_eq!(unkeyed.idempotency_key, "msg:m1");
    }

    #[test]
    fn a_key_with_control_characters_empty_or_too_long_is_invalid() {
        let long = "k".repeat(MAX_IDEMPOTENCY_KEY_CHARS + 1);
        for key in ["k\0", "a\u{85}b", "", long.as_str()] {
            let parsed = NewOrder::parse(request(&[("MUG", 1)], Some(key)), "m");
            assert!(
                matches!(parsed, Err(Error::Invalid(_))),
                "{key:?}: {parsed:?}"
            );
        }
    }

    #[test]
    fn the_fingerprint_ignores_line_order_but_not_content() {
        let a = NewOrder::parse(request(&[("MUG", 1), ("CAP", 2)], None), "m").unwrap();
        let b = NewOrder::parse(request(&[("CAP", 2), ("MUG", 1)], None), "m").unwrap();
        let c = NewOrder::parse(request(&[("CAP", 3), ("MUG", 1)], None), "m").unwrap();
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_ne!(a.fingerprint, c.fingerprint);
    }

    #[test]
    fn a_total_that_would_overflow_is_invalid_not_wrapped() {
        let new = NewOrder::parse(request(&[("GOLD", 2), ("MUG", 3)], None), "m").unwrap();
        let prices = |gold: i64| [("GOLD".to_owned(), gold), ("MUG".to_owned(), 1250)].into();
        assert_eq!(new.total(&prices(100)).unwrap(), 2 * 100 + 3 * 1250);
        assert!(matches!(
            new.total(&prices(i64::MAX / 2)),
            Err(Error::Invalid(_))
        ));
        assert!(matches!(
            new.total(&prices(i64::MAX / 2 - 1000)),
            Err(Error::Invalid(_))
        ));
    }

    #[test]
    fn a_sku_with_control_characters_or_too_long_is_invalid() {
        let long = "X".repeat(MAX_SKU_CHARS + 1);
        for sku in ["MUG\0", "A\nB", long.as_str()] {
            let parsed = NewOrder::parse(request(&[(sku, 1)], None), "m");
            assert!(
                matches!(parsed, Err(Error::Invalid(_))),
                "{sku:?}: {parsed:?}"
            );
        }
    }
}
