//! Whether a connection is up right now, shared between the task keeping
//! it up and whoever reports readiness — for every transport.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

/// A shared flag: is the consumer connected and consuming? Clones share it.
#[derive(Debug, Clone, Default)]
pub struct Connected(Arc<AtomicBool>);

impl Connected {
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// A readiness check that passes while the consumer is connected.
    pub fn readiness_check(&self) -> platform::admin::Check {
        let connected = self.clone();
        platform::admin::Check::flag(
            "rabbitmq",
            move || connected.get(),
            "not consuming; reconnecting",
        )
    }

    pub(crate) fn set(&self, connected: bool) {
        self.0.store(connected, Ordering::Relaxed);
    }
}

/// Polls `up` (bounded by `within`) until it is true; whether it became so.
/// For start-up and tests waiting on a connection that comes up in the
/// background.
pub(crate) async fn wait_until(within: Duration, up: impl Fn() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if up() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    up()
}
