//! Client-side load balancing over several gRPC endpoints of one service.
//!
//! gRPC multiplexes every call over one long-lived HTTP/2 connection, so a
//! connection-level balancer (a Kubernetes ClusterIP Service, a TCP proxy)
//! pins each client to one server. Instead the client keeps a channel per
//! server and spreads calls round-robin:
//!
//! - the servers are a comma-separated list of URLs; a host name in one is
//!   re-resolved every [`RESOLVE_INTERVAL`] and each address it resolves to
//!   (a Kubernetes headless Service, a compose service with replicas) is a
//!   server of its own;
//! - a server that refuses the connection is skipped for a cool-down that
//!   grows while it stays down, and the call goes to the next one at once.
//!   Such a call never reached a server, so sending it elsewhere is safe
//!   even when it is not idempotent;
//! - a connection that breaks with the call on it also puts the server in
//!   cool-down; the call goes to the next server only when the caller says
//!   it is [`Retry::Idempotent`] (a read, or a change keyed by an
//!   idempotency key) — otherwise it fails as UNAVAILABLE: it may have run;
//! - a call that timed out is not repeated (its deadline is spent), but the
//!   slow server is skipped for a while too;
//! - every answer from a server, errors included, is the caller's to handle;
//! - every call is counted and timed on the channel it went to
//!   ([`crate::metrics::GrpcClientMetricsLayer`]), refused ones included.
//!
//! tonic's own `Channel::balance_list` keeps sending calls to a dead server
//! (its reconnecting channel reports ready and fails the call), which is why
//! this exists.

use std::{
    future::Future,
    net::SocketAddr,
    sync::{
        Arc, Mutex, PoisonError, RwLock, Weak,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use tonic::{
    Status,
    transport::{Endpoint, Uri},
};

use crate::{
    metrics::{GrpcClientMetrics, GrpcClientMetricsLayer},
    propagation::{TracedChannel, traced},
};

/// How often host names are resolved again, to follow scaling.
pub const RESOLVE_INTERVAL: Duration = Duration::from_secs(10);
/// First cool-down of an unreachable server; doubles up to [`MAX_COOL_DOWN`].
const COOL_DOWN: Duration = Duration::from_millis(500);
const MAX_COOL_DOWN: Duration = Duration::from_secs(15);

/// The channel to one server: the caller's trace context on every call
/// ([`traced`]), and client metrics.
pub type ServerChannel = GrpcClientMetrics<TracedChannel>;

/// Channels to every server of one service; cheap to clone.
#[derive(Clone)]
pub struct Balanced {
    inner: Arc<Inner>,
}

struct Inner {
    targets: Vec<Uri>,
    configure: Box<dyn Fn(Endpoint) -> Endpoint + Send + Sync>,
    servers: RwLock<Arc<[Arc<Server>]>>,
    next: AtomicUsize,
}

struct Server {
    /// The configured URL this server came from.
    target: Uri,
    /// Where calls go: the configured URL, or one address its host resolved to.
    uri: Uri,
    channel: ServerChannel,
    health: Mutex<Health>,
}

#[derive(Default)]
struct Health {
    failures: u32,
    down_until: Option<Instant>,
}

impl std::fmt::Debug for Balanced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Balanced")
            .field("targets", &self.inner.targets)
            .field("servers", &self.inner.current().len())
            .finish()
    }
}

impl Balanced {
    /// Channels to the servers in `urls` (comma-separated), each configured
    /// by `configure` (timeouts, keep-alive), connected lazily: nothing needs
    /// to be up yet. Resolves host names now and every [`RESOLVE_INTERVAL`].
    pub async fn new(
        urls: &str,
        configure: impl Fn(Endpoint) -> Endpoint + Send + Sync + 'static,
    ) -> Result<Self, BadUrl> {
        let targets = urls
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(|u| u.parse::<Uri>().map_err(|e| BadUrl(format!("{u:?}: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        if targets.is_empty() {
            return Err(BadUrl("no URL given".into()));
        }
        let balanced = Self {
            inner: Arc::new(Inner {
                targets,
                configure: Box::new(configure),
                servers: RwLock::new(Arc::from([])),
                next: AtomicUsize::new(0),
            }),
        };
        balanced.inner.resolve().await;
        tokio::spawn(refresh(Arc::downgrade(&balanced.inner)));
        Ok(balanced)
    }

    /// The servers calls are spread over right now, with a channel to each
    /// (for health checks of every one).
    pub fn servers(&self) -> Vec<(String, ServerChannel)> {
        self.inner
            .current()
            .iter()
            .map(|s| (s.uri.to_string(), s.channel.clone()))
            .collect()
    }

    /// Runs `call` on the next reachable server; on a server that cannot be
    /// reached, marks it down and runs `call` on the next one — also after a
    /// broken connection when `retry` says the call is idempotent.
    pub async fn call<T, F, Fut>(&self, retry: Retry, mut call: F) -> Result<T, Status>
    where
        F: FnMut(ServerChannel) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let servers = self.inner.current();
        let start = self.inner.next.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        // Servers not cooling down first, in round-robin order; then, when
        // every one is down, all of them anyway: one may be back.
        let order = (0..servers.len()).map(|i| &servers[(start + i) % servers.len()]);
        let (up, down): (Vec<_>, Vec<_>) = order.partition(|s| s.is_up(now));
        let mut last = Status::unavailable("no server configured");
        for server in up.into_iter().chain(down) {
            match call(server.channel.clone()).await {
                Err(status) if never_reached(&status) => {
                    server.mark_down();
                    tracing::warn!(server = %server.uri, error = %status.message(), "server unreachable; trying the next");
                    last = status;
                }
                Err(status) if is_transport(&status) => {
                    // The connection broke or timed out with the call on it:
                    // later calls skip the server; this one may have run.
                    server.mark_down();
                    if is_timeout(&status) {
                        return Err(status);
                    }
                    tracing::warn!(server = %server.uri, error = %status.message(), "connection failed with a call on it");
                    // Not an answer from a server: say so (a bare
                    // "transport error" is UNKNOWN in tonic).
                    last = Status::unavailable(format!(
                        "connection to {} failed: {}",
                        server.uri,
                        status.message()
                    ));
                    if retry == Retry::Once {
                        return Err(last);
                    }
                }
                outcome => {
                    server.mark_up();
                    return outcome;
                }
            }
        }
        Err(last)
    }
}

/// Whether a call may be sent again after the connection broke with it on
/// it (it may have run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Running it twice does no harm: a read, or a change carrying an
    /// idempotency key. Sent to the next server.
    Idempotent,
    /// Fails with UNAVAILABLE; the caller decides.
    Once,
}

/// A URL in the list does not parse.
#[derive(Debug, thiserror::Error)]
#[error("invalid server URL {0}")]
pub struct BadUrl(String);

impl Inner {
    fn current(&self) -> Arc<[Arc<Server>]> {
        self.servers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Expands every target to the addresses its host resolves to, keeping
    /// the channels (and health) of servers that are still there. A target
    /// that does not resolve right now keeps its previous servers, or its
    /// name: its channel resolves again on connect.
    async fn resolve(&self) {
        let previous = self.current();
        let mut servers: Vec<Arc<Server>> = Vec::new();
        for target in &self.targets {
            let uris = match resolve(target).await {
                Some(uris) => uris,
                None => {
                    let kept: Vec<_> = previous
                        .iter()
                        .filter(|s| s.target == *target)
                        .map(|s| s.uri.clone())
                        .collect();
                    if kept.is_empty() {
                        vec![target.clone()]
                    } else {
                        kept
                    }
                }
            };
            for uri in uris {
                if servers.iter().any(|s| s.uri == uri) {
                    continue;
                }
                let server = match previous.iter().find(|s| s.uri == uri) {
                    Some(existing) => existing.clone(),
                    None => {
                        let endpoint = (self.configure)(Endpoint::from(uri.clone()));
                        Arc::new(Server {
                            target: target.clone(),
                            uri,
                            channel: tower::Layer::layer(
                                &GrpcClientMetricsLayer,
                                traced(endpoint.connect_lazy()),
                            ),
                            health: Mutex::default(),
                        })
                    }
                };
                servers.push(server);
            }
        }
        *self.servers.write().unwrap_or_else(PoisonError::into_inner) = servers.into();
    }
}

async fn refresh(inner: Weak<Inner>) {
    loop {
        tokio::time::sleep(RESOLVE_INTERVAL).await;
        // Every client dropped: stop.
        let Some(inner) = inner.upgrade() else { return };
        inner.resolve().await;
    }
}

/// The target once per address its host resolves to; `None` when it does
/// not resolve. An IP literal resolves to itself.
async fn resolve(target: &Uri) -> Option<Vec<Uri>> {
    let host = target.host()?;
    let port = target.port_u16().unwrap_or(match target.scheme_str() {
        Some("https") => 443,
        _ => 80,
    });
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let mut addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port)).await.ok()?.collect();
    addrs.sort();
    addrs.dedup();
    let uris = addrs
        .into_iter()
        .filter_map(|addr| {
            let scheme = target.scheme_str().unwrap_or("http");
            format!("{scheme}://{addr}").parse().ok()
        })
        .collect::<Vec<Uri>>();
    (!uris.is_empty()).then_some(uris)
}

impl Server {
    fn is_up(&self, now: Instant) -> bool {
        let health = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        health.down_until.is_none_or(|until| until <= now)
    }

    fn mark_down(&self) {
        let mut health = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        let cool_down = COOL_DOWN
            .saturating_mul(2u32.saturating_pow(health.failures.min(8)))
            .min(MAX_COOL_DOWN);
        health.failures = health.failures.saturating_add(1);
        health.down_until = Some(Instant::now() + cool_down);
    }

    fn mark_up(&self) {
        let mut health = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        *health = Health::default();
    }
}

/// Whether a failed call certainly never reached a server: the connection
/// could not be made (refused, no route). tonic reports these as UNAVAILABLE
/// with the transport error, and the OS error under it, as the source.
fn never_reached(status: &Status) -> bool {
    if status.code() != tonic::Code::Unavailable {
        return false;
    }
    use std::io::ErrorKind::*;
    causes(status)
        .find_map(|error| error.downcast_ref::<std::io::Error>())
        .is_some_and(|io| {
            matches!(
                io.kind(),
                ConnectionRefused
                    | TimedOut
                    | HostUnreachable
                    | NetworkUnreachable
                    | AddrNotAvailable
            )
        })
}

/// The errors under a status, outermost first.
fn causes(status: &Status) -> impl Iterator<Item = &(dyn std::error::Error + 'static)> {
    std::iter::successors(std::error::Error::source(status), |error| error.source())
}

/// A failure of the connection, not an answer from a server: UNAVAILABLE
/// from a broken connection, or a timeout (tonic cannot tell a connect
/// timeout from a call's deadline: both are CANCELLED "Timeout expired").
/// The server is skipped for a while — a slow one too, like an outlier
/// ejection — but the call is not repeated: it may have run.
fn is_transport(status: &Status) -> bool {
    std::error::Error::source(status)
        .is_some_and(|source| source.downcast_ref::<tonic::transport::Error>().is_some())
}

/// A failure that is a spent deadline (or connect timeout): tonic's
/// `TimeoutExpired` somewhere under it. Not the code alone — CANCELLED also
/// comes from hyper when the connection closed under the call, which is a
/// broken connection, not a slow one.
fn is_timeout(status: &Status) -> bool {
    status.code() == tonic::Code::DeadlineExceeded
        || causes(status).any(|error| error.is::<tonic::TimeoutExpired>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_host_name_becomes_one_server_per_address_and_ip_literals_stay() {
        let balanced = Balanced::new("http://localhost:50051, http://127.0.0.2:7000", |e| e)
            .await
            .unwrap();
        let servers: Vec<String> = balanced.servers().into_iter().map(|(uri, _)| uri).collect();
        assert!(
            servers.iter().any(|s| s == "http://127.0.0.1:50051/"),
            "{servers:?}"
        );
        assert!(
            !servers.iter().any(|s| s.contains("localhost")),
            "{servers:?}"
        );
        assert_eq!(
            servers
                .iter()
                .filter(|s| s.contains("127.0.0.2:7000"))
                .count(),
            1,
            "{servers:?}"
        );
    }

    #[test]
    fn a_bad_url_is_refused() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let result = runtime.block_on(Balanced::new("http://exa mple:1", |e| e));
        assert!(result.is_err());
        let result = runtime.block_on(Balanced::new(" , ", |e| e));
        assert!(result.is_err());
    }

    /// The status tonic's generated clients make of a transport error.
    async fn status_of_call_to(endpoint: Endpoint) -> Status {
        use tower::ServiceExt;
        let request = http::Request::new(tonic::body::Body::empty());
        let error = endpoint.connect_lazy().oneshot(request).await.unwrap_err();
        Status::from_error(error.into())
    }

    /// A server that accepts the connection, reads the call and dies.
    async fn dies_with_the_call_on_it() -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = [0; 1024];
                let _ = socket.read(&mut buf).await;
            }
        });
        addr
    }

    #[tokio::test]
    async fn a_broken_connection_sends_only_idempotent_calls_elsewhere_and_is_unavailable() {
        let urls = format!(
            "http://{}, http://{}",
            dies_with_the_call_on_it().await,
            dies_with_the_call_on_it().await
        );
        let balanced = Balanced::new(&urls, |e| e).await.unwrap();
        for (retry, expected_calls) in [(Retry::Once, 1), (Retry::Idempotent, 2)] {
            let calls = AtomicUsize::new(0);
            let status = balanced
                .call(retry, |channel| {
                    use tower::ServiceExt;
                    calls.fetch_add(1, Ordering::Relaxed);
                    let request = http::Request::new(tonic::body::Body::empty());
                    async move {
                        let error = channel.oneshot(request).await.unwrap_err();
                        Err::<(), _>(Status::from_error(error.into()))
                    }
                })
                .await
                .unwrap_err();
            assert_eq!(calls.into_inner(), expected_calls, "{retry:?}");
            assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
            // Both servers are cooling down now; let them be tried again.
            for server in balanced.inner.current().iter() {
                server.mark_up();
            }
        }
    }

    #[tokio::test]
    async fn only_calls_that_never_reached_a_server_are_sent_elsewhere() {
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap()
        };
        let refused =
            status_of_call_to(Endpoint::from_shared(format!("http://{closed}")).unwrap()).await;
        assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
        assert!(never_reached(&refused), "{refused:?}");

        // A peer that accepts and never answers the handshake: the connect
        // timeout.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = Endpoint::from_shared(format!("http://{}", silent.local_addr().unwrap()))
            .unwrap()
            .connect_timeout(Duration::from_millis(100))
            .timeout(Duration::from_millis(300));
        let timed_out = status_of_call_to(endpoint).await;
        // It may have been sent: not repeated, but the server is skipped.
        assert!(!never_reached(&timed_out), "{timed_out:?}");
        assert!(is_transport(&timed_out), "{timed_out:?}");
        assert!(is_timeout(&timed_out), "{timed_out:?}");
        // hyper's "operation was canceled" when the connection closed under
        // the call is CANCELLED too, but no timeout.
        assert!(!is_timeout(&Status::cancelled("connection closed")));
        assert!(!is_transport(&Status::unavailable("database down")));

        // Sent by a server: it may have done the work.
        assert!(!never_reached(&Status::unavailable("database down")));
        assert!(!never_reached(&Status::deadline_exceeded("slow")));
    }
}
