//! deploy/redis/users.acl: each account may subscribe to exactly the
//! channels its service reads and publish to exactly those it sends on — the
//! patterns of shared/contracts/src/patterns.rs as messaging::router::subject
//! names them, and their `.reply` channels: the gateway publishes requests
//! and reads replies, a service reads its requests and publishes replies (a
//! Redis 7 selector, `(… +publish)`, so no service can send a request, not
//! even to itself) — and only the commands pub/sub needs; the `default` user
//! is off; and deploy/redis/start.sh starts redis-server with it. (The
//! system tests run it: tests/tests/it/transports.rs.)

#![allow(clippy::unwrap_used)]

use std::{
    collections::{BTreeMap, BTreeSet},
    io::{Read, Write},
    net::TcpStream,
    process::{Command, Stdio},
    time::Duration,
};

use contracts::patterns::{
    HEALTH_CHECK, NOTIFICATION_SERVICE_PATTERNS, NOTIFICATIONS_QUEUE, ORDER_SERVICE_PATTERNS,
    ORDERS_QUEUE,
};
use deploy::{read, root};
use messaging::{redis::reply_channel, router::subject};

const ACL: &str = "deploy/redis/users.acl";

/// What reading pub/sub needs, and nothing else…
const READ_COMMANDS: [&str; 4] = ["-@all", "+subscribe", "+unsubscribe", "+ping"];
/// …and, in a selector of its own channels, what sending needs.
const SEND_COMMANDS: [&str; 1] = ["+publish"];

/// One `user` line: its rules by kind; `sends` is its selector's.
#[derive(Debug, Default)]
struct User {
    on: bool,
    passwords: Vec<String>,
    channels: BTreeSet<String>,
    commands: Vec<String>,
    sends: Rules,
    other: Vec<String>,
}

/// The channels and commands of a selector (`(&a &b +publish)`).
#[derive(Debug, Default)]
struct Rules {
    channels: BTreeSet<String>,
    commands: Vec<String>,
}

fn users() -> BTreeMap<String, User> {
    read(ACL)
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let (line, selector) = match line.split_once('(') {
                Some((root, selector)) => (root, selector.strip_suffix(')').unwrap()),
                None => (line, ""),
            };
            let mut words = line.split_whitespace();
            assert_eq!(words.next(), Some("user"), "{ACL}: {line}");
            let name = words.next().unwrap().to_owned();
            let mut user = User::default();
            for rule in words {
                match rule {
                    "on" => user.on = true,
                    "off" => user.on = false,
                    _ if rule.starts_with('>') => user.passwords.push(rule[1..].to_owned()),
                    _ if rule.starts_with('&') => {
                        user.channels.insert(rule[1..].to_owned());
                    }
                    _ if rule.starts_with(['+', '-']) => user.commands.push(rule.to_owned()),
                    _ => user.other.push(rule.to_owned()),
                }
            }
            for rule in selector.split_whitespace() {
                match rule.strip_prefix('&') {
                    Some(channel) => user.sends.channels.insert(channel.to_owned()),
                    None => {
                        user.sends.commands.push(rule.to_owned());
                        true
                    }
                };
            }
            (name, user)
        })
        .collect()
}

/// The channels a service serves on Redis: (requests, replies).
fn served(queue: &str, patterns: &[&str]) -> (BTreeSet<String>, BTreeSet<String>) {
    let requests: BTreeSet<String> = patterns
        .iter()
        .chain([&HEALTH_CHECK])
        .map(|pattern| subject(queue, pattern))
        .collect();
    let replies = requests
        .iter()
        .map(|channel| reply_channel(channel))
        .collect();
    (requests, replies)
}

#[test]
fn each_user_reads_and_sends_exactly_the_channels_its_service_does() {
    let users = users();
    assert_eq!(
        users.keys().collect::<Vec<_>>(),
        [
            "api-gateway",
            "default",
            "notification-service",
            "order-service"
        ],
        "{ACL}: the users"
    );
    let default = &users["default"];
    assert!(
        !default.on && default.channels.is_empty() && default.sends.channels.is_empty(),
        "{ACL}: default must be off"
    );

    let (orders, order_replies) = served(ORDERS_QUEUE, &ORDER_SERVICE_PATTERNS);
    let (notifications, notification_replies) =
        served(NOTIFICATIONS_QUEUE, &NOTIFICATION_SERVICE_PATTERNS);
    let requests: BTreeSet<String> = orders.union(&notifications).cloned().collect();
    let replies: BTreeSet<String> = order_replies
        .union(&notification_replies)
        .cloned()
        .collect();
    // (reads, sends): the gateway sends requests and reads replies; each
    // service the other way round, on its own channels only.
    for (name, reads, sends) in [
        ("api-gateway", &replies, &requests),
        ("order-service", &orders, &order_replies),
        (
            "notification-service",
            &notifications,
            &notification_replies,
        ),
    ] {
        let user = &users[name];
        assert!(user.on, "{ACL}: {name} is off");
        assert_eq!(&user.channels, reads, "{ACL}: the channels {name} reads");
        assert_eq!(user.commands, READ_COMMANDS, "{ACL}: {name}'s commands");
        assert_eq!(
            &user.sends.channels, sends,
            "{ACL}: the channels {name} sends on"
        );
        assert_eq!(
            user.sends.commands, SEND_COMMANDS,
            "{ACL}: {name}'s selector"
        );
        assert_eq!(user.other, ["resetkeys", "resetchannels"], "{ACL}: {name}");
        // The password comes from the environment (start.sh), never the file.
        let variable = format!(
            "${{{}_REDIS_PASSWORD}}",
            name.to_uppercase().replace('-', "_")
        );
        assert_eq!(user.passwords, [variable], "{ACL}: {name}'s password");
    }
}

#[test]
fn start_sh_runs_redis_with_the_users_and_lets_nobody_in_without_one() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let script = root().join("deploy/redis/start.sh");
    let mut server = Command::new(&script)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .envs([
            ("API_GATEWAY_REDIS_PASSWORD", "gateway-password"),
            ("ORDER_SERVICE_REDIS_PASSWORD", "order-password"),
            (
                "NOTIFICATION_SERVICE_REDIS_PASSWORD",
                "notification-password",
            ),
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{} (needs redis-server, see README): {e}", script.display()));
    let ask = |command: &str| -> Option<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        stream.write_all(command.as_bytes()).ok()?;
        // One reply line per command (inline commands, simple replies).
        let (lines, mut reply) = (command.matches("\r\n").count(), Vec::new());
        while reply.windows(2).filter(|w| w == b"\r\n").count() < lines {
            let mut chunk = [0; 256];
            let n = stream.read(&mut chunk).ok().filter(|&n| n > 0)?;
            reply.extend_from_slice(&chunk[..n]);
        }
        Some(String::from_utf8_lossy(&reply).into_owned())
    };
    let mut anonymous = None;
    for _ in 0..250 {
        anonymous = ask("PING\r\n");
        if anonymous.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let gateway = ask("AUTH api-gateway gateway-password\r\nPUBLISH create_order x\r\n");
    let reply = ask("AUTH order-service order-password\r\nPUBLISH create_order.reply x\r\n");
    // A service sends no requests: not to another service, nor to itself
    // (a request names its caller, and only the gateway's is believed).
    let refused = [
        ("order-service order-password", "get_notifications"),
        ("order-service order-password", "create_order"),
        ("notification-service notification-password", "create_order"),
        (
            "notification-service notification-password",
            "get_notifications",
        ),
    ]
    .map(|(login, channel)| ask(&format!("AUTH {login}\r\nPUBLISH {channel} x\r\n")));
    let _ = server.kill();
    let _ = server.wait();

    let anonymous = anonymous.expect("start.sh never started redis-server");
    assert!(anonymous.starts_with("-NOAUTH"), "{anonymous}");
    assert_eq!(gateway.as_deref(), Some("+OK\r\n:0\r\n"));
    assert_eq!(reply.as_deref(), Some("+OK\r\n:0\r\n"));
    for answer in refused {
        let answer = answer.unwrap();
        assert!(answer.contains("-NOPERM"), "{answer}");
    }
}

#[test]
fn start_sh_refuses_to_run_without_a_password() {
    let output = Command::new(root().join("deploy/redis/start.sh"))
        .env_remove("API_GATEWAY_REDIS_PASSWORD")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("API_GATEWAY_REDIS_PASSWORD"), "{stderr}");
}
