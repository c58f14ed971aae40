//! The carrier of a [`Client`] on NestJS's TCP transport: one connection
//! to a server, opened on first use and again after it drops, requests
//! matched to replies by their id — as NestJS's `ClientTCP` does it. With
//! [`Client::tcp_tls`] the connection is mutual TLS (the services'
//! certificates), which is what lets the server believe the caller the
//! request names.

use std::{sync::Arc, time::Duration};

use futures_util::{SinkExt, StreamExt};
use rustls::pki_types::ServerName;
use serde::Serialize;
use serde_json::{Value, value::RawValue};
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
    Carrier, Client, RpcError, Transport,
    client::Outgoing,
    error::TransportError,
    pending::Waiting,
    text_headers::{self, HeaderMembers},
    wire::{self, Reply},
};

/// How long connecting (and the TLS handshake) may take before the call
/// fails as not connected.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// The largest reply read, in UTF-16 units.
const MAX_REPLY_UNITS: usize = 4 * 1024 * 1024;

/// Requests and events to one TCP server, over one connection at a time.
struct TcpCarrier {
    /// `host:port`, resolved at each connection.
    addr: String,
    tls: Option<(tokio_rustls::TlsConnector, ServerName<'static>)>,
    connection: tokio::sync::Mutex<Option<Connection>>,
}

impl std::fmt::Debug for TcpCarrier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpCarrier")
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

impl Client {
    /// A client of the TCP server at `addr` (`host:port`), whose requests
    /// wait at most `timeout`. Plain TCP, as NestJS's default; connects on
    /// first use.
    pub fn tcp(addr: impl Into<String>, timeout: Duration) -> Self {
        Self::new(TcpCarrier::new(addr.into(), None), timeout)
    }

    /// [`Client::tcp`] over mutual TLS (`config`, e.g.
    /// `GrpcTls::stream_client`), accepting only a server whose certificate
    /// names `server_name` (the service, e.g. `order-service`): what lets
    /// the server believe the caller a request names.
    pub fn tcp_tls(
        addr: impl Into<String>,
        timeout: Duration,
        config: Arc<rustls::ClientConfig>,
        server_name: &str,
    ) -> Result<Self, RpcError> {
        let name = ServerName::try_from(server_name.to_owned())
            .map_err(|_| TransportError::ServerName(server_name.to_owned()))?;
        let carrier = TcpCarrier::new(addr.into(), Some((config.into(), name)));
        Ok(Self::new(carrier, timeout))
    }
}

impl Carrier for TcpCarrier {
    const TRANSPORT: Transport = Transport::Tcp;

    fn destination(&self) -> &str {
        &self.addr
    }

    /// Whether a connection is open now (one is opened by the next call).
    fn is_connected(&self) -> bool {
        self.connection
            .try_lock()
            .is_ok_and(|c| c.as_ref().is_some_and(|c| !c.closed.is_cancelled()))
    }

    async fn request(&self, request: Outgoing<'_>) -> Result<Value, RpcError> {
        let id = uuid::Uuid::new_v4().to_string();
        let headers: HeaderMembers = text_headers::request(request.timeout, request.caller);
        let frame = envelope(request.pattern, request.data, Some(&id), &headers)?;
        let connection = self.open().await?;
        let (reply, _forget) = connection.waiting.register(&id);
        connection.send(frame).await?;
        // A dropped sender: the connection closed before the reply came.
        let reply = reply.await.map_err(|_| RpcError::ConnectionLost)?;
        reply.into_result().map_err(RpcError::Remote)
    }

    /// Sends an event (no `id`, no reply). At most once: written to the
    /// socket, not acknowledged by anyone.
    async fn emit(&self, pattern: &str, data: &RawValue) -> Result<(), RpcError> {
        let frame = envelope(pattern, &data, None, &text_headers::event())?;
        self.open().await?.send(frame).await
    }
}

impl TcpCarrier {
    fn new(addr: String, tls: Option<(tokio_rustls::TlsConnector, ServerName<'static>)>) -> Self {
        Self {
            addr,
            tls,
            connection: tokio::sync::Mutex::default(),
        }
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
                    .map_err(TransportError::Tls)?;
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
