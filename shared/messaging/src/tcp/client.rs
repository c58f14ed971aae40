//! The client face on NestJS's TCP transport: one connection to a server,
//! opened on first use and again after it drops, requests matched to
//! replies by their id — as NestJS's `ClientTCP` does it. With
//! [`TcpClient::with_tls`] the connection is mutual TLS (the services'
//! certificates), which is what lets the server believe the caller the
//! request names.

use std::{sync::Arc, time::Duration};

use contracts::identity::Caller;
use futures_util::{SinkExt, StreamExt};
use rustls::pki_types::ServerName;
use serde::Serialize;
use serde_json::Value;
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpStream,
    sync::mpsc,
};
use tokio_util::{
    codec::{FramedRead, FramedWrite},
    sync::CancellationToken,
};

use super::framing::JsonFrames;
use crate::{
    RpcError,
    pending::Waiting,
    text_headers::{self, HeaderMembers},
    wire::{self, Reply},
};

/// How long connecting (and the TLS handshake) may take before the call
/// fails as not connected.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// The largest reply read, in UTF-16 units.
const MAX_REPLY_UNITS: usize = 4 * 1024 * 1024;

/// Requests and events to one TCP server. Cheap to clone.
#[derive(Clone)]
pub struct TcpClient {
    /// `host:port`, resolved at each connection.
    addr: String,
    tls: Option<(tokio_rustls::TlsConnector, ServerName<'static>)>,
    timeout: Duration,
    caller: Option<Caller>,
    connection: Arc<tokio::sync::Mutex<Option<Connection>>>,
}

impl std::fmt::Debug for TcpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpClient")
            .field("addr", &self.addr)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

/// An open connection: frames to send go through `outgoing`; the requests
/// waiting for a reply on it are in `waiting`; `closed` once it ended.
#[derive(Debug, Clone)]
struct Connection {
    outgoing: mpsc::Sender<String>,
    waiting: Arc<Waiting>,
    closed: CancellationToken,
}

impl TcpClient {
    /// A client of the server at `addr` (`host:port`), whose requests wait
    /// at most `timeout`. Plain TCP, as NestJS's default; connects on
    /// first use.
    pub fn new(addr: impl Into<String>, timeout: Duration) -> Self {
        Self {
            addr: addr.into(),
            tls: None,
            timeout,
            caller: None,
            connection: Arc::default(),
        }
    }

    /// This client over mutual TLS (`config`, e.g.
    /// `GrpcTls::stream_client`), accepting only a server whose certificate
    /// names `server_name` (the service, e.g. `order-service`).
    pub fn with_tls(
        self,
        config: Arc<rustls::ClientConfig>,
        server_name: &str,
    ) -> Result<Self, RpcError> {
        let name = ServerName::try_from(server_name.to_owned())
            .map_err(|e| RpcError::Transport(format!("{server_name}: {e}")))?;
        Ok(Self {
            tls: Some((config.into(), name)),
            connection: Arc::default(),
            ..self
        })
    }

    /// This client sending its requests for `caller` (envelope headers
    /// `x-caller-id`, `x-caller-role`; believed by a server only over
    /// mutual TLS).
    #[must_use]
    pub fn on_behalf_of(&self, caller: Caller) -> Self {
        Self {
            caller: Some(caller),
            ..self.clone()
        }
    }

    /// The client's own deadline.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Whether a connection is open now (one is opened by the next call).
    pub fn is_connected(&self) -> bool {
        self.connection
            .try_lock()
            .is_ok_and(|c| c.as_ref().is_some_and(|c| !c.closed.is_cancelled()))
    }

    /// A request and its reply, within `timeout`. Counted and timed like
    /// every client's calls (`messaging_client_*`, `queue` = the address).
    pub async fn send_value_within(
        &self,
        pattern: &str,
        data: Value,
        timeout: Duration,
    ) -> Result<Value, RpcError> {
        let call = self.request(pattern, data, timeout);
        crate::metrics::timed_call_within(&self.addr, pattern, timeout, call).await
    }

    async fn request(
        &self,
        pattern: &str,
        data: Value,
        timeout: Duration,
    ) -> Result<Value, RpcError> {
        let id = uuid::Uuid::new_v4().to_string();
        let headers: HeaderMembers = text_headers::request(timeout, self.caller.as_ref());
        let frame = envelope(pattern, &data, Some(&id), &headers)?;
        let connection = self.open().await?;
        let (reply, _forget) = connection.waiting.register(&id);
        connection.send(frame).await?;
        // A dropped sender: the connection closed before the reply came.
        let reply = reply.await.map_err(|_| RpcError::ConnectionLost)?;
        reply.into_result().map_err(RpcError::Remote)
    }

    /// Sends an event (no `id`, no reply). At most once: written to the
    /// socket, not acknowledged by anyone.
    pub async fn emit<D: Serialize>(&self, pattern: &str, data: &D) -> Result<(), RpcError> {
        let frame = envelope(pattern, data, None, &text_headers::event())?;
        let send = async { self.open().await?.send(frame).await };
        tokio::time::timeout(self.timeout, send)
            .await
            .map_err(|_| RpcError::Timeout(self.timeout))?
    }

    /// The open connection, made first when there is none or it ended.
    async fn open(&self) -> Result<Connection, RpcError> {
        let mut connection = self.connection.lock().await;
        if let Some(open) = connection.as_ref().filter(|c| !c.closed.is_cancelled()) {
            return Ok(open.clone());
        }
        let open = tokio::time::timeout(CONNECT_TIMEOUT, self.connect())
            .await
            .map_err(|_| RpcError::NotConnected)??;
        *connection = Some(open.clone());
        Ok(open)
    }

    async fn connect(&self) -> Result<Connection, RpcError> {
        let stream = TcpStream::connect(&self.addr)
            .await
            .map_err(|_| RpcError::NotConnected)?;
        let _ = stream.set_nodelay(true);
        Ok(match &self.tls {
            None => Connection::start(stream),
            Some((connector, name)) => {
                let stream = connector
                    .connect(name.clone(), stream)
                    .await
                    .map_err(|e| RpcError::Transport(format!("TLS: {e}")))?;
                Connection::start(stream)
            }
        })
    }
}

impl Connection {
    /// A writer and a reader task on `stream`.
    fn start<S: AsyncRead + AsyncWrite + Send + 'static>(stream: S) -> Self {
        let (read, write) = tokio::io::split(stream);
        let (outgoing, mut frames_out) = mpsc::channel::<String>(64);
        let (waiting, closed) = (Arc::new(Waiting::default()), CancellationToken::new());
        // Writer: ends when the connection does or writing fails.
        let ended = closed.clone();
        tokio::spawn(async move {
            let mut sink = FramedWrite::new(write, JsonFrames::new(usize::MAX));
            loop {
                let frame = tokio::select! {
                    frame = frames_out.recv() => frame,
                    () = ended.cancelled() => None,
                };
                let Some(frame) = frame else { break };
                if sink.send(frame.as_str()).await.is_err() {
                    ended.cancel();
                    break;
                }
            }
        });
        // Reader: hands each reply to its request; when the connection ends,
        // every request still waiting on it hears so (its sender dropped).
        let (replies_to, ended) = (waiting.clone(), closed.clone());
        tokio::spawn(async move {
            let mut frames = FramedRead::new(read, JsonFrames::new(MAX_REPLY_UNITS));
            while let Some(Ok(text)) = frames.next().await {
                match serde_json::from_str::<Reply>(&text) {
                    Ok(reply) => replies_to.deliver(reply),
                    Err(_) => tracing::warn!("a TCP reply is not a NestJS reply"),
                }
            }
            // The next call opens a new connection.
            ended.cancel();
            replies_to.clear();
        });
        Self {
            outgoing,
            waiting,
            closed,
        }
    }

    /// Queues `frame` for the writer; a closed connection is lost.
    async fn send(&self, frame: String) -> Result<(), RpcError> {
        self.outgoing
            .send(frame)
            .await
            .map_err(|_| RpcError::ConnectionLost)
    }
}

/// The NestJS envelope as the text a frame carries, with what travels
/// beside it (crate::text_headers) as its `headers` member.
fn envelope<D: Serialize>(
    pattern: &str,
    data: &D,
    id: Option<&str>,
    headers: &HeaderMembers,
) -> Result<String, RpcError> {
    let bytes = wire::encode_with_headers(pattern, data, id, Some(headers))?;
    Ok(String::from_utf8(bytes).expect("JSON is UTF-8"))
}
