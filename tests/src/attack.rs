//! An attacker at the edge, from an address of its own: any 127.x address
//! is another client to the gateway, so the attacker binds [`ATTACKER`] and
//! the customer it would crowd out [`CUSTOMER`]. Slow bodies and HTTP/2
//! streams withholding their DATA, as the abuse tests (tests/tests/it/
//! abuse/) and `just bench-abuse` (bench/src/bin/abuse.rs) send them.

use std::{
    net::{IpAddr, SocketAddr},
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
    task::JoinSet,
};

pub const ATTACKER: &str = "127.0.0.2";
pub const CUSTOMER: &str = "127.0.0.3";

/// `address` as an IP address (one of the constants above).
pub fn ip(address: &str) -> IpAddr {
    address.parse().expect("an IP address")
}

/// An HTTP client whose connections come from `address`.
pub fn client_from(address: &str, token: Option<&str>) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = token {
        let bearer = format!("Bearer {token}").parse().expect("a header value");
        headers.insert(reqwest::header::AUTHORIZATION, bearer);
    }
    reqwest::Client::builder()
        .local_address(ip(address))
        .timeout(Duration::from_secs(30))
        .pool_idle_timeout(Duration::from_secs(5))
        .default_headers(headers)
        .build()
        .expect("an HTTP client")
}

/// A TCP connection from `address` to `to`.
pub async fn connect_from(address: &str, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(ip(address), 0))?;
    socket.connect(to).await
}

/// Up to `count` connections from `address`, each having sent a log-in's
/// headers and the first bytes of a body it never finishes.
pub async fn slow_bodies(address: &str, to: SocketAddr, count: usize) -> Vec<TcpStream> {
    let mut held = Vec::new();
    for _ in 0..count {
        let Ok(mut stream) = connect_from(address, to).await else {
            continue;
        };
        let head = b"POST /auth/token HTTP/1.1\r\nHost: shop\r\n\
            Content-Type: application/json\r\nContent-Length: 60\r\n\r\n{\"email\"";
        if stream.write_all(head).await.is_ok() {
            held.push(stream);
        }
    }
    held
}

/// The status of the first answer on `stream` (0: closed without one, or
/// nothing within 20 s).
pub async fn status_line(mut stream: TcpStream) -> u16 {
    let mut head = [0u8; 12];
    let read = tokio::time::timeout(Duration::from_secs(20), stream.read_exact(&mut head)).await;
    match read {
        Ok(Ok(_)) => std::str::from_utf8(&head[9..12])
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
        _ => 0,
    }
}

/// One HTTP/2 connection from `address` opening `streams` requests whose
/// bodies never come; returns the statuses the gateway answered them with
/// (bounded: `within`).
pub async fn withheld_streams(
    address: &'static str,
    to: SocketAddr,
    streams: usize,
    within: Duration,
) -> Vec<u16> {
    let Ok(tcp) = connect_from(address, to).await else {
        return Vec::new();
    };
    let Ok((client, connection)) = h2::client::handshake(tcp).await else {
        return Vec::new();
    };
    tokio::spawn(connection);
    let mut answers = JoinSet::new();
    let mut open = Vec::new();
    let deadline = Instant::now() + within;
    for _ in 0..streams {
        let client = client.clone();
        let ready = tokio::time::timeout_at(deadline.into(), client.ready()).await;
        let Ok(Ok(mut client)) = ready else { break };
        let Ok(request) = http::Request::post(format!("http://{to}/auth/token"))
            .header("content-type", "application/json")
            .body(())
        else {
            break;
        };
        let Ok((response, body)) = client.send_request(request, false) else {
            break;
        };
        // Held open, never written to: the stream waits for its DATA.
        open.push(body);
        answers.spawn(async move { response.await.map(|r| r.status().as_u16()).unwrap_or(0) });
    }
    let statuses = tokio::time::timeout_at(deadline.into(), answers.join_all()).await;
    drop(open);
    statuses.unwrap_or_default()
}

/// The `i`-th of a customer's requests: a product read for even `i`, a
/// one-item order for odd — what the customer under attack keeps doing.
pub async fn customer_request(
    system: &crate::System,
    customer: &reqwest::Client,
    i: usize,
) -> reqwest::Result<reqwest::Response> {
    if i.is_multiple_of(2) {
        customer.get(system.url("/products")).send().await
    } else {
        let order = serde_json::json!({"items": [{"sku": "STICKER-PACK", "quantity": 1}]});
        customer
            .post(system.url("/orders"))
            .json(&order)
            .send()
            .await
    }
}

/// The `p` quantile (0–1) of `sorted`, which is not empty.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}
