//! A NATS server of the system's own, as the vhost is for RabbitMQ: NATS
//! subjects are global (a pattern is its subject), so two systems on one
//! server would serve each other's requests. It runs the shipped
//! `deploy/nats/nats.conf` — its users and permissions — with passwords of
//! its own, on a free port.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    process::{Child, Command, Stdio},
    time::Duration,
};

/// The accounts `deploy/nats/nats.conf` defines, and the variable each
/// one's password is read from.
pub const ACCOUNTS: [(&str, &str); 3] = [
    ("api-gateway", "API_GATEWAY_NATS_PASSWORD"),
    ("order-service", "ORDER_SERVICE_NATS_PASSWORD"),
    ("notification-service", "NOTIFICATION_SERVICE_NATS_PASSWORD"),
];

/// A running `nats-server`; killed on drop.
#[derive(Debug)]
pub struct NatsServer {
    child: Child,
    pub addr: SocketAddr,
    passwords: BTreeMap<&'static str, String>,
}

impl NatsServer {
    /// Starts `nats-server` (or `$NATS_SERVER`) and waits until it accepts
    /// connections.
    pub async fn start() -> Self {
        let addr = crate::process::free_port();
        let passwords: BTreeMap<&'static str, String> = ACCOUNTS
            .iter()
            // A letter first: nats-server parses a `$VAR` value as a config
            // value, and `8f3a…` is a malformed number to it.
            .map(|(account, _)| (*account, format!("n{}", uuid::Uuid::new_v4().simple())))
            .collect();
        let binary = std::env::var("NATS_SERVER").unwrap_or_else(|_| "nats-server".into());
        let config = test_support::repo::root().join("deploy/nats/nats.conf");
        let child = Command::new(&binary)
            .arg("-c")
            .arg(&config)
            .args(["-a", "127.0.0.1", "-p", &addr.port().to_string()])
            .envs(
                ACCOUNTS
                    .iter()
                    .map(|(account, variable)| (*variable, passwords[account].as_str())),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{binary} (NATS, see README) could not start: {e}"));
        let mut server = Self {
            child,
            addr,
            passwords,
        };
        for _ in 0..500 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                let mut stderr = String::new();
                if let Some(mut pipe) = server.child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
                }
                panic!("nats-server exited ({status}): {stderr}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("nats-server never listened on {addr}");
    }

    /// `NATS_URL` for `account`.
    pub fn url(&self, account: &str) -> String {
        let password = &self.passwords[account];
        format!("nats://{account}:{password}@{}", self.addr)
    }

    /// The server's process id (the bench counts its CPU).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `NATS_URL` with no account at all.
    pub fn anonymous_url(&self) -> String {
        format!("nats://{}", self.addr)
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
