//! Requests waiting for their reply by id — how NestJS's NATS-less clients
//! (Redis, TCP) match replies: each reply carries its request's id.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard, PoisonError},
};

use tokio::sync::oneshot;

use crate::wire::Reply;

/// The requests of one connection (or one process) still waiting.
#[derive(Debug, Default)]
pub(crate) struct Waiting(Mutex<HashMap<String, oneshot::Sender<Reply>>>);

impl Waiting {
    /// A place for `id`'s reply, and a guard that gives the place up when
    /// the call ends however it ends (a reply, a timeout, a dropped future).
    pub(crate) fn register<'a>(&'a self, id: &'a str) -> (oneshot::Receiver<Reply>, Forget<'a>) {
        let (sender, receiver) = oneshot::channel();
        self.lock().insert(id.to_owned(), sender);
        (receiver, Forget(self, id))
    }

    /// Hands `reply` to the request it answers; one nobody here waits for
    /// (another client's, a late one) is dropped.
    pub(crate) fn deliver(&self, reply: Reply) {
        let waiter = reply.id.as_ref().and_then(|id| self.lock().remove(id));
        if let Some(waiter) = waiter {
            let _ = waiter.send(reply);
        }
    }

    /// Drops every waiting place: their calls fail as the connection lost.
    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, oneshot::Sender<Reply>>> {
        // A panic while holding the lock leaves a map still worth using.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// See [`Waiting::register`].
pub(crate) struct Forget<'a>(&'a Waiting, &'a str);

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.0.lock().remove(self.1);
    }
}
