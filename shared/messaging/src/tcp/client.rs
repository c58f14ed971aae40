//! The client face on NestJS's TCP transport: one connection to a server,
//! opened on first use and again after it drops, requests matched to
//! replies by their id — as NestJS's `ClientTCP` does it.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use serde_json::Value;
use tokio::{
    net::TcpStream,
    sync::{mpsc, oneshot},
};
use tokio_util::{
    codec::{FramedRead, FramedWrite},
    sync::CancellationToken,
};

use super::framing::JsonFrames;
use crate::{
    RpcError,
    wire::{self, Reply},
};

/// How long connecting may take before the call fails as not connected.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// The largest reply read, in UTF-16 units.
const MAX_REPLY_UNITS: usize = 4 * 1024 * 1024;

type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Reply>>>>;

/// Requests and events to one TCP server. Cheap to clone.
#[derive(Debug, Clone)]
pub struct TcpClient {
    addr: SocketAddr,
    timeout: Duration,
    connection: Arc<tokio::sync::Mutex<Option<Connection>>>,
}

/// An open connection: frames to send go through `outgoing`; the requests
/// waiting for a reply on it are in `pending`; `closed` once it ended.
#[derive(Debug, Clone)]
struct Connection {
    outgoing: mpsc::Sender<String>,
    pending: Pending,
    closed: CancellationToken,
}

impl TcpClient {
    /// A client of the server at `addr`, whose requests wait at most
    /// `timeout`. Connects on first use.
    pub fn new(addr: SocketAddr, timeout: Duration) -> Self {
        Self {
            addr,
            timeout,
            connection: Arc::new(tokio::sync::Mutex::new(None)),
        }
    }

    /// The client's own deadline.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// A request and its reply, within `timeout`. Counted and timed like
    /// every client's calls (`messaging_client_*`, `queue` = the address).
    pub async fn send_value_within(
        &self,
        pattern: &str,
        data: Value,
        timeout: Duration,
    ) -> Result<Value, RpcError> {
        let call = tokio::time::timeout(timeout, self.request(pattern, data));
        let queue = self.addr.to_string();
        crate::metrics::timed_call(&queue, pattern, async {
            call.await.map_err(|_| RpcError::Timeout(timeout))?
        })
        .await
    }

    async fn request(&self, pattern: &str, data: Value) -> Result<Value, RpcError> {
        let id = uuid::Uuid::new_v4().to_string();
        let frame = envelope(pattern, &data, Some(&id))?;
        let (tx, rx) = oneshot::channel();
        let connection = self.open().await?;
        lock(&connection.pending).insert(id.clone(), tx);
        let _forget = Forget(&connection.pending, &id);
        connection.send(frame).await?;
        // A dropped sender: the connection closed before the reply came.
        let reply = rx.await.map_err(|_| RpcError::ConnectionLost)?;
        reply.into_result().map_err(RpcError::Remote)
    }

    /// Sends an event (no `id`, no reply). At most once: written to the
    /// socket, not acknowledged by anyone.
    pub async fn emit<D: Serialize>(&self, pattern: &str, data: &D) -> Result<(), RpcError> {
        let frame = envelope(pattern, data, None)?;
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
        let open = self.connect().await?;
        *connection = Some(open.clone());
        Ok(open)
    }

    async fn connect(&self) -> Result<Connection, RpcError> {
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(self.addr))
            .await
            .map_err(|_| RpcError::NotConnected)?
            .map_err(|_| RpcError::NotConnected)?;
        let _ = stream.set_nodelay(true);
        let (read, write) = stream.into_split();
        let (outgoing, mut frames_out) = mpsc::channel::<String>(64);
        let (pending, closed) = (Pending::default(), CancellationToken::new());
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
        let (waiting, ended) = (pending.clone(), closed.clone());
        tokio::spawn(async move {
            let mut frames = FramedRead::new(read, JsonFrames::new(MAX_REPLY_UNITS));
            while let Some(Ok(text)) = frames.next().await {
                let Ok(reply) = serde_json::from_str::<Reply>(&text) else {
                    tracing::warn!("a TCP reply is not a NestJS reply");
                    continue;
                };
                let request = reply.id.as_ref().and_then(|id| lock(&waiting).remove(id));
                if let Some(request) = request {
                    let _ = request.send(reply);
                }
            }
            // The next call opens a new connection.
            ended.cancel();
            lock(&waiting).clear();
        });
        Ok(Connection {
            outgoing,
            pending,
            closed,
        })
    }
}

impl Connection {
    /// Queues `frame` for the writer; a closed connection is lost.
    async fn send(&self, frame: String) -> Result<(), RpcError> {
        self.outgoing
            .send(frame)
            .await
            .map_err(|_| RpcError::ConnectionLost)
    }
}

/// The NestJS envelope as the text a frame carries.
fn envelope<D: Serialize>(pattern: &str, data: &D, id: Option<&str>) -> Result<String, RpcError> {
    Ok(String::from_utf8(wire::encode(pattern, data, id)?).expect("JSON is UTF-8"))
}

fn lock(pending: &Pending) -> std::sync::MutexGuard<'_, HashMap<String, oneshot::Sender<Reply>>> {
    // A panic while holding it leaves a map still worth using.
    pending
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Forgets a request's waiting place when the call ends, however it ends
/// (a reply, a timeout, a dropped future).
struct Forget<'a>(&'a Pending, &'a str);

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        lock(self.0).remove(self.1);
    }
}
