//! One service process: its environment (free ports chosen here), its log
//! file, readiness, signals and restarts.

use std::{
    fs::File,
    net::{SocketAddr, TcpListener},
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
    time::Duration,
};

/// The four service binaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binary {
    ApiGateway,
    UserService,
    OrderService,
    NotificationService,
}

impl Binary {
    pub fn name(self) -> &'static str {
        match self {
            Self::ApiGateway => "api-gateway",
            Self::UserService => "user-service",
            Self::OrderService => "order-service",
            Self::NotificationService => "notification-service",
        }
    }

    /// The variable that sets its main listening address, if it has one.
    fn listen_var(self) -> Option<&'static str> {
        match self {
            Self::ApiGateway => Some("GATEWAY_LISTEN_ADDR"),
            Self::UserService => Some("USER_SERVICE_LISTEN_ADDR"),
            Self::OrderService | Self::NotificationService => None,
        }
    }
}

#[derive(Debug)]
pub struct Process {
    pub binary: Binary,
    /// `<binary>-<replica>`, also its log file's name.
    pub name: String,
    pub listen_addr: Option<SocketAddr>,
    pub admin_addr: SocketAddr,
    env: Vec<(String, String)>,
    log: PathBuf,
    child: Option<Child>,
    started: std::time::Instant,
}

impl Process {
    /// Starts `binary` with `env`, on free ports of its own.
    pub fn spawn(binary: Binary, system: &str, replica: usize, env: Vec<(String, String)>) -> Self {
        let name = format!("{}-{replica}", binary.name());
        let dir = log_dir(system);
        std::fs::create_dir_all(&dir).unwrap();
        let mut process = Self {
            binary,
            log: dir.join(format!("{name}.log")),
            name,
            listen_addr: binary.listen_var().map(|_| free_port()),
            admin_addr: free_port(),
            env,
            child: None,
            started: std::time::Instant::now(),
        };
        process.start();
        process
    }

    /// Starts it (again) with the same environment and ports; the log file
    /// is appended to.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "{} is already running", self.name);
        let binary = binaries_dir().join(self.binary.name());
        assert!(
            binary.exists(),
            "{} is missing: build the services first (`cargo build --workspace --bins`, \
             or `just test-system`)",
            binary.display()
        );
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut command = Command::new(&binary);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .env("OTEL_SERVICE_NAME", self.binary.name())
            .env("ADMIN_LISTEN_ADDR", self.admin_addr.to_string())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        if let (Some(var), Some(addr)) = (self.binary.listen_var(), self.listen_addr) {
            command.env(var, addr.to_string());
        }
        self.started = std::time::Instant::now();
        self.child = Some(command.spawn().unwrap());
    }

    /// Whether `/readyz` answers 200 right now.
    pub async fn is_ready(&self) -> bool {
        let url = format!("http://{}/readyz", self.admin_addr);
        reqwest::Client::new()
            .get(&url)
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    }

    /// Time since it was (last) started.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Waits until `/readyz` on its admin port answers 200.
    pub async fn wait_ready(&self, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        let url = format!("http://{}/readyz", self.admin_addr);
        let client = reqwest::Client::new();
        let mut last = String::new();
        while tokio::time::Instant::now() < deadline {
            match client
                .get(&url)
                .timeout(Duration::from_secs(2))
                .send()
                .await
            {
                Ok(r) if r.status() == 200 => return,
                Ok(r) => last = r.text().await.unwrap_or_default(),
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "{} was not ready within {within:?}: {last}; log: {}",
            self.name,
            self.log.display()
        );
    }

    /// `kill -<signal>`: TERM, KILL, STOP, CONT.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} {} failed", self.name);
    }

    /// Waits (bounded) for the process to exit; its exit status.
    pub async fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = tokio::time::Instant::now() + within;
        let child = self.child.as_mut().expect("running");
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} did not exit within {within:?}; log: {}",
                self.name,
                self.log.display()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Its Prometheus metrics, from the admin port.
    pub async fn metrics(&self) -> String {
        let url = format!("http://{}/metrics", self.admin_addr);
        reqwest::get(url).await.unwrap().text().await.unwrap()
    }

    /// The log so far, for assertions and failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL, if still running.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Sums a Prometheus counter over the series whose labels contain every one
/// of `labels` (`key="value"` strings).
pub fn counter(metrics: &str, name: &str, labels: &[&str]) -> f64 {
    metrics
        .lines()
        .filter(|line| {
            line.starts_with(&format!("{name}{{")) || line.starts_with(&format!("{name} "))
        })
        .filter(|line| labels.iter().all(|label| line.contains(label)))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Where the service binaries are: beside a test binary's `deps/`, or
/// beside the running binary itself (the bench, in `target/release/`).
/// A new Ed25519 signing key (PEM), from the service's own
/// `user-service generate-signing-key`.
pub fn signing_key() -> String {
    let output = Command::new(binaries_dir().join(Binary::UserService.name()))
        .arg("generate-signing-key")
        .output()
        .expect("running user-service generate-signing-key (was it built?)");
    assert!(output.status.success(), "generate-signing-key failed");
    String::from_utf8(output.stdout).unwrap()
}

/// A development CA and every service's certificate and key in `dir`, from
/// the service's own `user-service generate-dev-certs`.
pub fn dev_certs(dir: &std::path::Path) {
    let output = Command::new(binaries_dir().join(Binary::UserService.name()))
        .arg("generate-dev-certs")
        .arg(dir)
        .output()
        .expect("running user-service generate-dev-certs (was it built?)");
    assert!(
        output.status.success(),
        "generate-dev-certs failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

pub fn binaries_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap();
    if dir.ends_with("deps") {
        dir.parent().unwrap().to_owned()
    } else {
        dir.to_owned()
    }
}

/// `target/system-tests/<system id>/`.
pub fn log_dir(system: &str) -> PathBuf {
    binaries_dir()
        .parent()
        .unwrap()
        .join("system-tests")
        .join(system)
}

/// A port for a child to listen on: free now, and not one the kernel will
/// hand out meanwhile. Asking the kernel (`bind` to port 0) and releasing the
/// port raced: before the child bound it, the kernel could give the same
/// port to another test's `bind(0)` or to an outgoing connection's local
/// end, and the child failed with "address in use" (seen in CI). So ports
/// come from below the kernel's ephemeral range (32768–60999 by default),
/// one after another — never the same twice in this test process — from a
/// start that differs per process, skipping any that is taken.
pub fn free_port() -> SocketAddr {
    const FIRST: u32 = 20_000;
    const COUNT: u32 = 12_000;
    static NEXT: std::sync::OnceLock<std::sync::atomic::AtomicU32> = std::sync::OnceLock::new();
    let next = NEXT.get_or_init(|| {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
            ^ std::process::id().wrapping_mul(2_654_435_761);
        std::sync::atomic::AtomicU32::new(seed % COUNT)
    });
    for _ in 0..COUNT {
        let offset = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % COUNT;
        let port = u16::try_from(FIRST + offset).unwrap();
        if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)) {
            return listener.local_addr().unwrap();
        }
    }
    panic!("no free port in {FIRST}..{}", FIRST + COUNT);
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}
