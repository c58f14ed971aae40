//! Abuse from outside: one client cannot take the shop from the others
//! (docs/security.md, "An edge that holds under abuse"). Any 127.x address
//! is another client here: the attacker binds [`ATTACKER`], the customer
//! [`CUSTOMER`].
//!
//! - slow bodies and HTTP/2 streams that hold back their DATA, from one
//!   address, leave the other clients their share; the attacker's slots
//!   come back within the body timeout;
//! - a flood of sign-ups from one address is refused at once, and log-ins
//!   go on;
//! - a hundred wrong passwords for an account from one address do not lock
//!   its owner out from another.

mod edge;
mod passwords;

use std::{
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use tokio::net::{TcpSocket, TcpStream};

pub(crate) const ATTACKER: &str = "127.0.0.2";
pub(crate) const CUSTOMER: &str = "127.0.0.3";

pub(crate) fn ip(address: &str) -> IpAddr {
    address.parse().unwrap()
}

/// An HTTP client whose connections come from `address`.
pub(crate) fn client_from(address: &str, token: Option<&str>) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = token {
        let bearer = format!("Bearer {token}").parse().unwrap();
        headers.insert(reqwest::header::AUTHORIZATION, bearer);
    }
    reqwest::Client::builder()
        .local_address(ip(address))
        .timeout(Duration::from_secs(30))
        .pool_idle_timeout(Duration::from_secs(5))
        .default_headers(headers)
        .build()
        .unwrap()
}

pub(crate) async fn connect_from(address: &str, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(ip(address), 0))?;
    socket.connect(to).await
}
