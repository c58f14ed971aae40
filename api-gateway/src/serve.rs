//! The HTTP server loop: hyper's, configured for the open internet, where
//! `axum::serve` leaves it as it comes.
//!
//! - A header-read timeout (`HEADER_READ_TIMEOUT`): hyper only enforces one
//!   with a timer, which `axum::serve` does not give it, so a client sending
//!   one header byte a minute (slowloris) would hold its connection — and a
//!   file descriptor — forever. Here it is cut.
//! - An idle timeout, the same length: a connection with no request in
//!   flight that long is closed — HTTP/1.1 by hyper's header timer (its clock
//!   starts whenever it waits for a request), HTTP/2, which hyper never
//!   closes while its pings are answered, by a GOAWAY from here. Clients
//!   must drop idle connections sooner (see `test_support::http_client`).
//! - At most [`MAX_CONCURRENT_STREAMS`] requests at once on one HTTP/2
//!   connection (hyper's default is 200).
//! - Caps on open connections, in all (`MAX_CONNECTIONS`) and from one
//!   address (`MAX_CONNECTIONS_PER_CLIENT`; a trusted proxy's are not
//!   counted, they carry many clients): past either, a new connection is
//!   closed as soon as it is accepted — before TLS or HTTP cost anything.
//! - The peer's address in every request ([`ConnectInfo`]), for the limits
//!   per client ([`crate::fair_share`], [`crate::login_limit`]).
//! - Graceful shutdown: stop accepting, let requests in flight finish (each
//!   is bounded by `REQUEST_TIMEOUT`), close idle connections at once.

use std::{
    net::{IpAddr, SocketAddr},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{Router, body::Body, extract::ConnectInfo};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto::Builder,
    service::TowerToHyperService,
};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{Notify, Semaphore},
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower::ServiceExt;

use crate::{
    Config,
    clients::{ClientAddr, TrustedProxies},
    fair_share::PerClient,
};

/// Requests at once on one HTTP/2 connection: above what a browser uses,
/// far below what would let one connection take a client's whole share.
pub(crate) const MAX_CONCURRENT_STREAMS: u32 = 100;

/// The server loop's limits, from the configuration.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    /// `HEADER_READ_TIMEOUT`, also the idle timeout.
    pub header_read_timeout: Duration,
    pub max_connections: usize,
    pub max_connections_per_client: usize,
    pub trusted_proxies: TrustedProxies,
}

impl From<&Config> for Limits {
    fn from(config: &Config) -> Self {
        Self {
            header_read_timeout: config.header_read_timeout,
            max_connections: config.max_connections,
            max_connections_per_client: config.max_connections_per_client,
            trusted_proxies: config.trusted_proxies.clone(),
        }
    }
}

pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: CancellationToken,
) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    // An HTTP/2 client that stops answering pings is cut too.
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
        .keep_alive_interval(Some(Duration::from_secs(20)))
        .keep_alive_timeout(Duration::from_secs(10));
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let per_address = PerClient::<IpAddr>::new(limits.max_connections_per_client);
    let connections = TaskTracker::new();

    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before
                    // it was accepted: keep serving the others, and give
                    // the process a moment to free descriptors.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            refuse(stream, "total");
            continue;
        };
        let held = match limits.trusted_proxies.contains(peer.ip()) {
            true => None,
            false => match per_address.try_take(ClientAddr(peer.ip()).key()) {
                Some(held) => Some(held),
                None => {
                    refuse(stream, "address");
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::default());
        let busy = activity.clone();
        let service = router
            .clone()
            .map_request(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
                req.map(Body::new)
            })
            .map_future(move |response| {
                let request = busy.begin();
                async move {
                    let response = response.await;
                    drop(request);
                    response
                }
            });
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service))
            .into_owned();
        let (shutdown, idle) = (shutdown.clone(), limits.header_read_timeout);
        connections.spawn(async move {
            let (_permit, _held) = (permit, held);
            let gauge = metrics::gauge!("http_connections_open");
            gauge.increment(1.0);
            let mut connection = std::pin::pin!(connection);
            let closed = tokio::select! {
                result = connection.as_mut() => Some(result),
                () = activity.idle_for(idle) => None,
                () = shutdown.cancelled() => None,
            };
            // Idle, or shutting down: finish what is in flight, then close.
            let result = match closed {
                Some(result) => result,
                None => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection closed with an error");
            }
            gauge.decrement(1.0);
        });
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}

/// A connection past a cap: closed unread.
fn refuse(stream: TcpStream, limit: &'static str) {
    metrics::counter!("http_connections_refused_total", "limit" => limit).increment(1);
    drop(stream);
}

/// Requests in flight on one connection, to tell when it is idle.
#[derive(Debug, Default)]
struct Activity {
    in_flight: AtomicUsize,
    changed: Notify,
}

/// One request in flight; done when dropped.
struct Busy(Arc<Activity>);

impl Activity {
    fn begin(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_waiters();
        Busy(self.clone())
    }

    /// Returns once no request has been in flight for `timeout`.
    async fn idle_for(&self, timeout: Duration) {
        loop {
            let changed = self.changed.notified();
            let mut changed = std::pin::pin!(changed);
            // Registered before the count is read: a change in between
            // still wakes this.
            changed.as_mut().enable();
            if self.in_flight.load(Ordering::SeqCst) > 0 {
                changed.await;
                continue;
            }
            tokio::select! {
                () = tokio::time::sleep(timeout) => return,
                () = changed => {}
            }
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.0.changed.notify_waiters();
    }
}
