//! Where a delivery really came from — the exchange it was published to and
//! the account RabbitMQ says published it (AMQP `user_id`, which the broker
//! refuses unless it is the publisher's own login) — and whether an event
//! may be trusted from there (docs/security.md, "Events: provenance"), and
//! whether a request may run: only from an account allowed to call (the
//! gateway's), so another service holding its own credentials cannot send
//! requests as anyone it names in the caller headers.
//!
//! A consumer's own requeued copy comes back through the default exchange
//! under the consumer's account, which only the consumer can publish as; it
//! carries its original's origin in headers the consumer wrote, and is judged
//! by that. Anyone else's message is judged by how the broker delivered it,
//! whatever headers it carries, so a forged message cannot be laundered
//! through a requeue.

use lapin::{
    BasicProperties,
    types::{AMQPValue, FieldTable},
};

use crate::headers::{ORIGINAL_EXCHANGE_HEADER, ORIGINAL_USER_HEADER};

/// How a message first reached this consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    /// Empty: the default exchange.
    pub(crate) exchange: String,
    pub(crate) user: Option<String>,
}

impl Origin {
    /// The origin of a delivery through `exchange` with `properties`, to a
    /// consumer logged in as `own_account`.
    pub(crate) fn of(exchange: &str, properties: &BasicProperties, own_account: &str) -> Self {
        let user = properties.user_id().as_ref().map(|u| u.as_str().to_owned());
        let headers = properties.headers().as_ref();
        // A copy always records its original's user (`record`); a message
        // from the consumer's own account without that record is a fresh
        // one (a process sharing the account, as tests do), judged as sent.
        let recorded = headers.is_some_and(|h| h.inner().get(ORIGINAL_USER_HEADER).is_some());
        let own_copy = exchange.is_empty()
            && !own_account.is_empty()
            && user.as_deref() == Some(own_account)
            && recorded;
        if !own_copy {
            return Self {
                exchange: exchange.to_owned(),
                user,
            };
        }
        let header = |name: &str| match headers?.inner().get(name)? {
            AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
            _ => None,
        };
        Self {
            exchange: header(ORIGINAL_EXCHANGE_HEADER).unwrap_or_default(),
            user: header(ORIGINAL_USER_HEADER),
        }
    }

    /// Records this origin in a copy's headers (replacing whatever the
    /// message claimed).
    pub(crate) fn record(&self, headers: &mut FieldTable) {
        let text = |s: &str| AMQPValue::LongString(s.into());
        headers.insert(ORIGINAL_EXCHANGE_HEADER.into(), text(&self.exchange));
        // Void for none: a claim the message made must not survive.
        let user = self.user.as_deref().map_or(AMQPValue::Void, text);
        headers.insert(ORIGINAL_USER_HEADER.into(), user);
    }

    /// Why an event `pattern` from here may not run: it did not come through
    /// one of `exchanges` (the queue's bindings) from `publisher`. `None`
    /// when it may.
    pub(crate) fn distrust(
        &self,
        pattern: &str,
        publisher: &str,
        exchanges: &[&str],
    ) -> Option<String> {
        if !exchanges.contains(&self.exchange.as_str()) {
            let through = if self.exchange.is_empty() {
                "the default exchange".to_owned()
            } else {
                format!("exchange {:?}", self.exchange)
            };
            return Some(format!(
                "event {pattern:?} came through {through}, not the events exchange: not trusted"
            ));
        }
        if self.user.as_deref() != Some(publisher) {
            let from = self
                .user
                .as_ref()
                .map_or("no user_id".to_owned(), |u| format!("user_id {u:?}"));
            return Some(format!(
                "event {pattern:?} carries {from}; only {publisher:?} publishes it: not trusted"
            ));
        }
        None
    }

    /// Why request `pattern` from here may not run: its publisher is not one
    /// of `callers`, the accounts whose caller headers are believed. `None`
    /// when it may.
    pub(crate) fn distrust_request(&self, pattern: &str, callers: &[String]) -> Option<String> {
        let user = self.user.as_deref();
        if user.is_some_and(|user| callers.iter().any(|c| c == user)) {
            return None;
        }
        let from = user.map_or("no user_id".to_owned(), |u| format!("user_id {u:?}"));
        Some(format!(
            "request {pattern:?} carries {from}; only {callers:?} may send requests: not trusted"
        ))
    }
}

/// Whether `reply_to` is a direct reply-to address (RabbitMQ's
/// `amq.rabbitmq.reply-to.<channel>`, as the broker rewrites it): the
/// requester's own channel. Any other queue name would have this server
/// publish its reply — as itself — wherever the requester pointed it.
pub(crate) fn is_direct_reply_to(reply_to: &str) -> bool {
    reply_to.starts_with("amq.rabbitmq.reply-to.")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn properties(user: Option<&str>, headers: &[(&str, &str)]) -> BasicProperties {
        let mut table = FieldTable::default();
        for (k, v) in headers {
            table.insert((*k).into(), AMQPValue::LongString((*v).into()));
        }
        let properties = BasicProperties::default().with_headers(table);
        match user {
            Some(user) => properties.with_user_id(user.into()),
            None => properties,
        }
    }

    const EXCHANGES: &[&str] = &["events"];

    #[test]
    fn an_event_through_the_exchange_from_its_publisher_is_trusted() {
        let origin = Origin::of("events", &properties(Some("user-service"), &[]), "notifier");
        assert_eq!(
            origin.distrust("user_created", "user-service", EXCHANGES),
            None
        );
        let other = Origin::of(
            "events",
            &properties(Some("order-service"), &[]),
            "notifier",
        );
        assert!(
            other
                .distrust("user_created", "user-service", EXCHANGES)
                .is_some()
        );
        let nobody = Origin::of("events", &properties(None, &[]), "notifier");
        assert!(
            nobody
                .distrust("user_created", "user-service", EXCHANGES)
                .is_some()
        );
    }

    #[test]
    fn a_request_runs_only_from_an_account_allowed_to_call() {
        let callers = ["api-gateway".to_owned()];
        let gateway = Origin::of("", &properties(Some("api-gateway"), &[]), "orders");
        assert_eq!(gateway.distrust_request("create_order", &callers), None);
        for user in [Some("order-service"), Some("notification-service"), None] {
            let other = Origin::of("", &properties(user, &[]), "orders");
            let reason = other.distrust_request("create_order", &callers).unwrap();
            assert!(reason.contains("only [\"api-gateway\"]"), "{reason}");
        }
        // A requeued copy is judged by the account that first sent it.
        let claims = [(ORIGINAL_USER_HEADER, "api-gateway")];
        let copy = Origin::of("", &properties(Some("orders"), &claims), "orders");
        assert_eq!(copy.distrust_request("create_order", &callers), None);
        let forged = Origin::of("", &properties(Some("order-service"), &claims), "orders");
        assert!(forged.distrust_request("create_order", &callers).is_some());
    }

    #[test]
    fn replies_go_only_to_a_direct_reply_to_address() {
        assert!(is_direct_reply_to(
            "amq.rabbitmq.reply-to.g1h2AA5yZXBseUAxMjM0"
        ));
        assert!(!is_direct_reply_to("amq.rabbitmq.reply-to"));
        assert!(!is_direct_reply_to("notification-service.events"));
        assert!(!is_direct_reply_to("orders_queue"));
    }

    #[test]
    fn claimed_origin_headers_count_only_on_the_consumers_own_copies() {
        let claims = [
            (ORIGINAL_EXCHANGE_HEADER, "events"),
            (ORIGINAL_USER_HEADER, "user-service"),
        ];
        // Someone else, straight to the queue, claiming a trusted origin.
        let forged = Origin::of("", &properties(Some("api-gateway"), &claims), "notifier");
        assert_eq!(forged.exchange, "");
        assert!(
            forged
                .distrust("user_created", "user-service", EXCHANGES)
                .is_some()
        );
        // The consumer's own requeued copy of a trusted event.
        let copy = Origin::of("", &properties(Some("notifier"), &claims), "notifier");
        assert_eq!(
            copy.distrust("user_created", "user-service", EXCHANGES),
            None
        );
    }

    #[test]
    fn a_requeue_records_the_true_origin_over_any_claim() {
        let claims = [
            (ORIGINAL_EXCHANGE_HEADER, "events"),
            (ORIGINAL_USER_HEADER, "user-service"),
        ];
        let forged = Origin::of("", &properties(Some("api-gateway"), &claims), "notifier");
        let mut headers = properties(None, &claims).headers().clone().unwrap();
        forged.record(&mut headers);
        let copy = Origin::of(
            "",
            &properties(Some("notifier"), &[]).with_headers(headers),
            "notifier",
        );
        assert_eq!(
            copy, forged,
            "the copy carries where the forgery really came from"
        );
        assert!(
            copy.distrust("user_created", "user-service", EXCHANGES)
                .is_some()
        );
    }
}
