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
        let child = spawn(addr, &passwords).await;
        Self {
            child,
            addr,
            passwords,
        }
    }

    /// Kills the server (an outage; clients see their connections drop).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on the same address with the same accounts.
    pub async fn restart(&mut self) {
        self.child = spawn(self.addr, &self.passwords).await;
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
        let _ = std::fs::remove_file(log(self.addr));
    }
}

/// `nats-server` with the shipped configuration on `addr`, once it accepts
/// connections.
async fn spawn(addr: SocketAddr, passwords: &BTreeMap<&'static str, String>) -> Child {
    let binary = std::env::var("NATS_SERVER").unwrap_or_else(|_| "nats-server".into());
    let config = test_support::repo::root().join("deploy/nats/nats.conf");
    let mut child = Command::new(&binary)
        .arg("-c")
        .arg(&config)
        .args(["-a", "127.0.0.1", "-p", &addr.port().to_string()])
        .envs(
            ACCOUNTS
                .iter()
                .map(|(account, variable)| (*variable, passwords[account].as_str())),
        )
        .stdout(Stdio::null())
        // A file, not a pipe nobody reads: a full pipe would stall the server.
        .stderr(std::fs::File::create(log(addr)).expect("a log file for nats-server"))
        .spawn()
        .unwrap_or_else(|e| panic!("{binary} (NATS, see README) could not start: {e}"));
    for _ in 0..500 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return child;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let stderr = std::fs::read_to_string(log(addr)).unwrap_or_default();
            panic!("nats-server exited ({status}): {stderr}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("nats-server never listened on {addr}");
}

/// Where the server on `addr` logs.
fn log(addr: SocketAddr) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("rust-shop-nats-{}.log", addr.port()))
}
