//! A NATS or Redis server of the system's own, as the vhost is for
//! RabbitMQ: subjects and channels are global (a pattern is its subject or
//! channel), so two systems on one server would serve each other's
//! requests. It runs the shipped configuration — `deploy/nats/nats.conf`,
//! or `deploy/redis/start.sh` with `deploy/redis/users.acl` — its users and
//! permissions, with passwords of its own, on a free port.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use messaging::Transport;

/// The accounts the shipped configurations define; each one's password is
/// read from `<ACCOUNT>_NATS_PASSWORD` or `<ACCOUNT>_REDIS_PASSWORD`.
pub const ACCOUNTS: [&str; 3] = ["api-gateway", "order-service", "notification-service"];

/// A running `nats-server` or `redis-server`; killed on drop.
#[derive(Debug)]
pub struct PubSubServer {
    pub transport: Transport,
    child: Child,
    pub addr: SocketAddr,
    passwords: BTreeMap<&'static str, String>,
}

impl PubSubServer {
    /// Starts the server for `transport` (`nats-server`, or `$NATS_SERVER`;
    /// `redis-server`) and waits until it accepts connections.
    pub async fn start(transport: Transport) -> Self {
        assert_ne!(transport, Transport::Amqp, "RabbitMQ has vhosts");
        let addr = crate::process::free_port();
        let passwords = ACCOUNTS
            .iter()
            // A letter first: nats-server parses a `$VAR` value as a config
            // value, and `8f3a…` is a malformed number to it.
            .map(|account| (*account, format!("p{}", uuid::Uuid::new_v4().simple())))
            .collect();
        let mut server = Self {
            transport,
            child: Command::new("true").spawn().expect("true runs"),
            addr,
            passwords,
        };
        server.restart().await;
        server
    }

    /// Kills the server (an outage; clients see their connections drop).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it (again) on the same address with the same accounts, once
    /// it accepts connections.
    pub async fn restart(&mut self) {
        self.stop();
        let mut command = self.command();
        let variable = |account: &str| {
            let suffix = match self.transport {
                Transport::Redis => "REDIS_PASSWORD",
                _ => "NATS_PASSWORD",
            };
            format!("{}_{suffix}", account.to_uppercase().replace('-', "_"))
        };
        let program = command.get_program().to_string_lossy().into_owned();
        self.child = command
            .envs(
                self.passwords
                    .iter()
                    .map(|(account, password)| (variable(account), password)),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            // A file, not a pipe nobody reads: a full pipe would stall it.
            .stderr(std::fs::File::create(self.log()).expect("a log file"))
            .spawn()
            .unwrap_or_else(|e| panic!("{program} (see README) could not start: {e}"));
        for _ in 0..500 {
            if tokio::net::TcpStream::connect(self.addr).await.is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(self.log()).unwrap_or_default();
                panic!("{program} exited ({status}): {log}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{program} never listened on {}", self.addr);
    }

    fn command(&self) -> Command {
        let root = test_support::repo::root();
        let port = self.addr.port().to_string();
        match self.transport {
            Transport::Redis => {
                let mut command = Command::new(root.join("deploy/redis/start.sh"));
                command.args(["--port", &port, "--bind", "127.0.0.1"]);
                // Pub/sub keeps nothing: no snapshots, no log.
                command.args(["--save", "", "--appendonly", "no"]);
                command.args(["--logfile", ""]);
                command
            }
            _ => {
                let binary = std::env::var("NATS_SERVER").unwrap_or_else(|_| "nats-server".into());
                let mut command = Command::new(binary);
                command.arg("-c").arg(root.join("deploy/nats/nats.conf"));
                command.args(["-a", "127.0.0.1", "-p", &port]);
                command
            }
        }
    }

    /// `NATS_URL` or `REDIS_URL` for `account`.
    pub fn url(&self, account: &str) -> String {
        let password = &self.passwords[account];
        format!("{}{account}:{password}@{}", self.scheme(), self.addr)
    }

    /// The URL with no account at all.
    pub fn anonymous_url(&self) -> String {
        format!("{}{}", self.scheme(), self.addr)
    }

    fn scheme(&self) -> &'static str {
        match self.transport {
            Transport::Redis => "redis://",
            _ => "nats://",
        }
    }

    /// The server's process id (the bench counts its CPU).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Where the server logs.
    fn log(&self) -> PathBuf {
        std::env::temp_dir().join(format!(
            "rust-shop-{}-{}.log",
            self.transport,
            self.addr.port()
        ))
    }
}

impl Drop for PubSubServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_file(self.log());
    }
}
