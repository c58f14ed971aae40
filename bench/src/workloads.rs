//! The run: start the system, measure start-up, seed, then the floor, W1,
//! W2, W3 and a lone order, each with its CPU and memory.

use std::{collections::BTreeMap, path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context;
use messaging::Transport;
use system_tests::{Options, System, process::binaries_dir};
use tokio::{sync::Semaphore, task::JoinSet};

use crate::{
    Params,
    procs::{CpuSnapshot, Group},
    report::{Latency, Machine, Report, Workload},
    wrk,
};

pub async fn run(params: &Params) -> anyhow::Result<Report> {
    let lua_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("lua");
    let out_dir = binaries_dir().join("../bench");
    std::fs::create_dir_all(&out_dir)?;

    eprintln!("starting the system (release binaries)...");
    // Logs at `info`, as shipped: their cost is part of the figures. Runtime
    // and allocator tuning (`TOKIO_WORKER_THREADS`, `MALLOC_ARENA_MAX`, ...)
    // passes through to the services, to compare settings.
    let tuning: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| {
            k.starts_with("TOKIO_") || k.starts_with("MALLOC_") || k.starts_with("DATABASE_MAX")
        })
        .collect();
    let mut system = System::start(Options {
        prefix: "bench",
        env: tuning.clone(),
        ..Options::default()
    })
    .await;
    let startup = restart_all(&mut system).await;
    let system = Arc::new(system);
    let services = service_groups(&system);
    let idle_rss = services
        .iter()
        .map(|g| (g.name.clone(), g.rss_mib()))
        .collect();

    eprintln!("seeding {} users with credit, and stock...", params.users);
    let ids = out_dir.join("user-ids.txt");
    let users = seed_customers(&system, params.users, &ids).await?;

    let groups = [services, shared_servers()].concat();
    let measure = |name: &'static str, script: &'static str, base: String, groups: Vec<Group>| {
        let (lua_dir, ids, load, warmup) = (
            lua_dir.clone(),
            ids.clone(),
            params.load.clone(),
            params.warmup,
        );
        tokio::task::spawn_blocking(move || -> anyhow::Result<Workload> {
            eprintln!(
                "{name}: warm-up {warmup:?}, then {:?} at {} connections...",
                load.duration, load.connections
            );
            wrk::run(&lua_dir, script, &base, &ids, &load, warmup)?;
            let groups: Vec<Group> = groups.iter().map(Group::refreshed).collect();
            for group in &groups {
                group.reset_peak();
            }
            let before = CpuSnapshot::take(&groups);
            let result = wrk::run(&lua_dir, script, &base, &ids, &load, load.duration)?;
            let (cpu_seconds, machine_busy_seconds) = before.until(&CpuSnapshot::take(&groups));
            let peak_rss_mib = groups
                .iter()
                .map(|g| (g.name.clone(), g.peak_rss_mib()))
                .collect();
            Ok(Workload {
                name: name.into(),
                result,
                cpu_seconds,
                machine_busy_seconds,
                peak_rss_mib,
            })
        })
    };

    let mut floor = Floor::start(&system.database_url("users"), &users[0]).await?;
    let mut floor_groups = vec![Group::one("bench-floor", floor.pid())];
    floor_groups.push(Group::named("postgres", "postgres"));
    let floor_run = measure("floor", "w1.lua", floor.url.clone(), floor_groups).await??;
    floor.stop();

    let w1 = measure("W1 user lookup", "w1.lua", system.url(""), groups.clone()).await??;
    let w2 = measure("W2 place order", "w2.lua", system.url(""), groups.clone()).await??;
    let w2_wide = measure(
        "W2 wide catalogue",
        "w2_wide.lua",
        system.url(""),
        groups.clone(),
    )
    .await??;

    // W2 leaves events behind (in outboxes, on the notifications queue):
    // measure how long they take to drain, and start W3 on an idle system.
    let drain = drained(&system).await?;
    eprintln!(
        "W3: {} orders one at a time, lag to their notification...",
        params.lag_orders
    );
    let fresh = seed_users(&system, params.lag_orders.max(1)).await;
    let lag = event_lag(&system, &fresh).await?;
    eprintln!(
        "lone POST /orders: {} sequential orders...",
        params.lone_orders
    );
    let lone_order = lone_orders(&system, &fresh, params.lone_orders).await;

    // W2 again with the gateway's requests over NATS, Redis, then TCP, each
    // on a system of its own (events still travel over RabbitMQ): what the
    // transport costs. NATS's or Redis's server is the `pubsub` group.
    drop(system);
    let mut w2_over = Vec::new();
    for (transport, name) in [
        (Transport::Nats, "W2 over NATS"),
        (Transport::Redis, "W2 over Redis"),
        (Transport::Tcp, "W2 over TCP"),
    ] {
        eprintln!("{name}: a system of its own, requests over {transport}...");
        let system = Arc::new(
            System::start(Options {
                prefix: "bench",
                env: tuning.clone(),
                requests: transport,
                ..Options::default()
            })
            .await,
        );
        seed_customers(&system, params.users, &ids).await?;
        let server = system
            .pubsub
            .as_ref()
            .map(|s| Group::one("pubsub", s.pid()));
        let groups = [service_groups(&system), shared_servers()]
            .into_iter()
            .flatten()
            .chain(server)
            .collect();
        w2_over.push(measure(name, "w2.lua", system.url(""), groups).await??);
    }

    let binary_size_mib = [
        "api-gateway",
        "user-service",
        "order-service",
        "notification-service",
    ]
    .into_iter()
    .filter_map(|name| {
        let len = std::fs::metadata(binaries_dir().join(name)).ok()?.len();
        #[allow(clippy::cast_precision_loss)]
        Some((name.to_owned(), len as f64 / 1024.0 / 1024.0))
    })
    .collect();

    Ok(Report {
        machine: Machine::describe(),
        load: format!(
            "wrk -t{} -c{} -d{}s after a {}s warm-up",
            params.load.threads,
            params.load.connections,
            params.load.duration.as_secs(),
            params.warmup.as_secs()
        ),
        startup_ms: startup,
        idle_rss_mib: idle_rss,
        binary_size_mib,
        floor: floor_run,
        w1,
        w2,
        w2_wide,
        w2_over,
        w2_backlog_drain_seconds: drain.as_secs_f64(),
        lag,
        lone_order,
    })
}

/// One process group per service process of `system`.
fn service_groups(system: &System) -> Vec<Group> {
    system
        .processes()
        .map(|p| Group::one(p.binary.name(), p.pid()))
        .collect()
}

/// The servers every system shares: Postgres and RabbitMQ, by process name.
fn shared_servers() -> Vec<Group> {
    vec![
        Group::named("postgres", "postgres"),
        Group::named("rabbitmq", "beam.smp"),
    ]
}

/// Waits (bounded) until every confirmed order has its notification; how
/// long that took.
async fn drained(system: &System) -> anyhow::Result<Duration> {
    let started = std::time::Instant::now();
    let (orders, notifications) = (system.db("orders").await, system.db("notifications").await);
    loop {
        let confirmed: i64 =
            sqlx::query_scalar("SELECT count(*) FROM orders WHERE status = 'confirmed'")
                .fetch_one(&orders)
                .await?;
        let notified: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM notifications WHERE event = 'order_confirmed'",
        )
        .fetch_one(&notifications)
        .await?;
        if notified >= confirmed {
            return Ok(started.elapsed());
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(120),
            "notifications did not catch up: {notified} of {confirmed}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Stops every service (SIGTERM) and starts it again on its existing
/// database: the time from spawn to a ready `/readyz`, dependencies up.
async fn restart_all(system: &mut System) -> BTreeMap<String, f64> {
    let mut ready = BTreeMap::new();
    let processes = system
        .user_services
        .iter_mut()
        .chain(&mut system.order_services)
        .chain([&mut system.notification_service, &mut system.gateway]);
    for process in processes {
        process.signal("TERM");
        process.wait_exit(Duration::from_secs(15)).await;
        process.start();
        while !process.is_ready().await {
            assert!(
                process.uptime() < Duration::from_secs(30),
                "{} never got ready",
                process.name
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        ready.insert(
            process.binary.name().to_owned(),
            process.uptime().as_secs_f64() * 1e3,
        );
    }
    system.wait_healthy(Duration::from_secs(30)).await;
    ready
}

/// Products in the wide catalogue (`BENCH-0001` …), as w2_wide.lua picks them.
const WIDE_CATALOGUE: i32 = 1000;

/// `count` customers with ample credit and ample stock to buy, written to
/// `ids` one per line as `id,token` for the wrk scripts (`bench/lua/users.lua`):
/// every request carries its user's bearer token, so the figures include
/// checking it. Their ids.
pub(crate) async fn seed_customers(
    system: &Arc<System>,
    count: usize,
    ids: &std::path::Path,
) -> anyhow::Result<Vec<String>> {
    let users = seed_users(system, count).await;
    let orders_db = system.db("orders").await;
    sqlx::query("UPDATE products SET stock = 2000000000")
        .execute(&orders_db)
        .await?;
    // The wide catalogue W2 also runs on (bench/lua/w2_wide.lua): every
    // order updates one of a thousand stock rows instead of five hot ones.
    sqlx::query(
        "INSERT INTO products (sku, name, price_cents, stock) \
         SELECT 'BENCH-' || lpad(i::text, 4, '0'), 'Bench product ' || i, 1000, 2000000000 \
         FROM generate_series(1, $1) AS i ON CONFLICT (sku) DO NOTHING",
    )
    .bind(WIDE_CATALOGUE)
    .execute(&orders_db)
    .await?;
    let lines: Vec<String> = users
        .iter()
        .map(|id| format!("{id},{}", system.token(id)))
        .collect();
    std::fs::write(ids, lines.join("\n"))?;
    Ok(users)
}

/// `count` customers with ample credit, signed in (their tokens kept).
async fn seed_users(system: &Arc<System>, count: usize) -> Vec<String> {
    let clients = Arc::new(Semaphore::new(32));
    let mut seeded = JoinSet::new();
    for _ in 0..count {
        let (system, clients) = (system.clone(), clients.clone());
        seeded.spawn(async move {
            let _permit = clients.acquire().await;
            system.user_with_credit(100_000_000).await
        });
    }
    seeded.join_all().await
}

/// W3: one order at a time, each by a user with no other order; the lag is
/// from the moment the client has its 201 to the notification row's
/// `created_at` (the start of notification-service's transaction; the same
/// machine's clock). Stored before the 201 arrived counts as 0.
async fn event_lag(system: &System, users: &[String]) -> anyhow::Result<Latency> {
    let mut answered = Vec::new();
    for user in users {
        let (status, body) = system.place_order(user, "STICKER-PACK", 1).await;
        anyhow::ensure!(status == 201, "W3 order answered {status}: {body}");
        answered.push((user.clone(), unix_micros()));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let db = system.db("notifications").await;
    let stored: Vec<(String, i64)> = sqlx::query_as(
        "SELECT user_id::text, (extract(epoch FROM created_at) * 1000000)::bigint
         FROM notifications WHERE event = 'order_confirmed' AND user_id::text = ANY($1)",
    )
    .bind(users)
    .fetch_all(&db)
    .await
    .context("reading notifications")?;
    let stored: BTreeMap<String, i64> = stored.into_iter().collect();
    let mut lags = Vec::new();
    for (user, at) in answered {
        let created = stored
            .get(&user)
            .with_context(|| format!("no notification for {user}'s order"))?;
        lags.push(Duration::from_micros(
            u64::try_from(created - at).unwrap_or(0),
        ));
    }
    Ok(Latency::of(lags))
}

/// A lone client placing orders one after another on one keep-alive
/// connection: the latency of one order with nothing else going on.
async fn lone_orders(system: &System, users: &[String], count: usize) -> Latency {
    let mut took = Vec::new();
    for i in 0..count {
        let started = std::time::Instant::now();
        let (status, _) = system
            .place_order(&users[i % users.len()], "STICKER-PACK", 1)
            .await;
        took.push(started.elapsed());
        assert_eq!(status, 201, "lone order {i}");
    }
    Latency::of(took)
}

fn unix_micros() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_micros()).unwrap_or(i64::MAX)
}

/// The floor process, `bench-floor`, on a free port.
struct Floor {
    child: std::process::Child,
    url: String,
}

impl Floor {
    async fn start(database_url: &str, some_user: &str) -> anyhow::Result<Self> {
        let addr = system_tests::process::free_port();
        let child = std::process::Command::new(binaries_dir().join("bench-floor"))
            .env("DATABASE_URL", database_url)
            .env("FLOOR_LISTEN_ADDR", addr.to_string())
            .spawn()
            .context("starting bench-floor")?;
        let floor = Self {
            child,
            url: format!("http://{addr}"),
        };
        let probe = format!("{}/users/{some_user}", floor.url);
        for _ in 0..200 {
            if reqwest::get(&probe).await.is_ok_and(|r| r.status() == 200) {
                return Ok(floor);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        anyhow::bail!("bench-floor did not answer {probe}")
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Floor {
    fn drop(&mut self) {
        self.stop();
    }
}
