//! The request transports beside RabbitMQ in compose, NATS and Redis: each
//! service reaches them as its own account, whose password is a secret file
//! mounted into that service and the server alone; the server reads its
//! accounts from the repo, read-only, keeps nothing, and starts only with
//! its profile.

use std::collections::BTreeSet;

use deploy::read;
use serde_json::Value;

use crate::{compose, services};

/// A server requests may travel through, as compose runs it.
struct Server {
    /// The compose service.
    name: &'static str,
    /// The variable each service reads its URL from, and the URL's scheme
    /// and port.
    url: &'static str,
    scheme: &'static str,
    port: u16,
    /// The repo's directory mounted (read-only) at `mount`, holding the
    /// accounts (`accounts`).
    config: &'static str,
    mount: &'static str,
    accounts: &'static str,
    /// Each account's password is `<SERVICE>_<password>` (`API_GATEWAY_…`)
    /// to the server, read from the file `<SERVICE>_<password>_FILE` names.
    password: &'static str,
}

const SERVERS: [Server; 2] = [
    Server {
        name: "nats",
        url: "NATS_URL",
        scheme: "nats",
        port: 4222,
        config: "deploy/nats",
        mount: "/etc/nats/rust-shop",
        accounts: "nats.conf",
        password: "NATS_PASSWORD",
    },
    Server {
        name: "redis",
        url: "REDIS_URL",
        scheme: "redis",
        port: 6379,
        config: "deploy/redis",
        mount: "/etc/redis/rust-shop",
        accounts: "users.acl",
        password: "REDIS_PASSWORD",
    },
];

impl Server {
    /// The accounts its configuration lets in: `user: name` blocks of
    /// nats.conf, `user name on …` lines of users.acl.
    fn accounts(&self) -> BTreeSet<String> {
        let text = read(format!("{}/{}", self.config, self.accounts));
        let lines = text.lines().map(|l| l.split('#').next().unwrap().trim());
        match self.name {
            "nats" => lines
                .filter_map(|l| l.strip_prefix("user: "))
                .map(|name| name.trim().to_owned())
                .collect(),
            "redis" => lines
                .filter_map(|l| l.strip_prefix("user "))
                .filter(|rules| rules.split_whitespace().any(|r| r == "on"))
                .map(|rules| rules.split_whitespace().next().unwrap().to_owned())
                .collect(),
            other => panic!("{other}: how are its accounts written?"),
        }
    }

    /// The variable naming the file of `service`'s password, to the server.
    fn password_of(&self, service: &str) -> String {
        format!(
            "{}_{}_FILE",
            service.to_uppercase().replace('-', "_"),
            self.password
        )
    }

    /// Where `service`'s password is mounted: its secret.
    fn secret_of(&self, service: &str) -> String {
        format!("/run/secrets/{service}-{}-password", self.name)
    }
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

#[test]
fn each_service_reaches_nats_and_redis_as_its_own_account() {
    let compose = compose();
    let services = services(&compose);
    for server in &SERVERS {
        let name = server.name;
        let clients: BTreeSet<String> = services
            .iter()
            .filter(|(_, s)| s["environment"][server.url].is_string())
            .map(|(client, _)| client.clone())
            .collect();
        assert_eq!(
            clients,
            server.accounts(),
            "the services given a {} are the accounts of {}/{}",
            server.url,
            server.config,
            server.accounts
        );
        for client in &clients {
            let url = services[client]["environment"][server.url]
                .as_str()
                .unwrap();
            let (scheme, port) = (server.scheme, server.port);
            assert_eq!(
                url,
                format!("{scheme}://{client}@{name}:{port}"),
                "{client}: {} logs into {name} as itself, no password in it",
                server.url
            );
            let file_var = server.url.replace("_URL", "_PASSWORD_FILE");
            assert_eq!(
                services[client]["environment"][&file_var].as_str(),
                Some(server.secret_of(client).as_str()),
                "{client}: its {name} password from its own secret"
            );
        }

        // The passwords the server fills in, each its account's secret.
        let service = &services[name];
        let env = service["environment"].as_object().unwrap();
        let given: BTreeSet<String> = env.keys().cloned().collect();
        let wanted: BTreeSet<String> = clients.iter().map(|c| server.password_of(c)).collect();
        assert_eq!(
            given, wanted,
            "{name}: the accounts' password files, and nothing else"
        );
        for client in &clients {
            assert_eq!(
                env[&server.password_of(client)].as_str(),
                Some(server.secret_of(client).as_str()),
                "{name}: {client}'s password from its secret"
            );
        }
        assert_eq!(
            service["profiles"],
            serde_json::json!([name]),
            "{name} starts only with its profile"
        );

        // Its accounts from the repo, read-only; no data volume: neither
        // keeps anything.
        let mount = format!("./{}:{}:ro", server.config, server.mount);
        assert_eq!(
            strings(&service["volumes"]),
            [mount.as_str()],
            "{name}: mounts {} read-only and keeps nothing",
            server.config
        );
        let image = service["image"].as_str().unwrap_or_default();
        let tag = image
            .rsplit_once(':')
            .map(|(_, tag)| tag)
            .unwrap_or_default();
        assert!(
            tag.starts_with(|c: char| c.is_ascii_digit()),
            "{name}: pin a version of the image, not {image:?}"
        );
    }
    // Nobody waits for one and not the other: both serve only when a
    // transport variable says so.
    for (client, service) in services {
        let waits = |server: &str| service["depends_on"].get(server).is_some();
        assert_eq!(
            waits("nats"),
            waits("redis"),
            "{client} waits for one request transport and not the other"
        );
    }
}

#[test]
fn nats_and_redis_start_from_the_mounted_configuration() {
    let compose = compose();
    let services = services(&compose);
    let nats = &services["nats"];
    let start = format!("{}/start.sh", SERVERS[0].mount);
    assert_eq!(
        strings(&nats["entrypoint"]),
        ["/bin/sh", start.as_str()],
        "nats starts through deploy/nats/start.sh, which reads the password files"
    );
    // compose.conf: nats.conf's accounts, the monitoring port on loopback.
    let conf = format!("{}/compose.conf", SERVERS[0].mount);
    assert!(
        strings(&nats["command"])
            .windows(2)
            .any(|w| w == ["-c", conf.as_str()]),
        "nats runs with -c {conf}: {}",
        nats["command"]
    );
    let compose_conf = read(format!("{}/compose.conf", SERVERS[0].config));
    assert!(
        compose_conf.contains(&format!("include ./{}", SERVERS[0].accounts)),
        "compose.conf includes the accounts"
    );
    assert!(
        compose_conf.contains(r#"http: "127.0.0.1:8222""#),
        "NATS' monitoring (connections, subjects) stays off the services' network"
    );
    assert!(
        !strings(&nats["command"]).contains(&"-m"),
        "`-m` would open monitoring on every interface: {}",
        nats["command"]
    );

    let redis = &services["redis"];
    let start = format!("{}/start.sh", SERVERS[1].mount);
    assert_eq!(
        strings(&redis["entrypoint"]),
        ["/bin/sh", start.as_str()],
        "redis starts through deploy/redis/start.sh, which fills in the passwords"
    );
    let args = strings(&redis["command"]);
    for setting in [["--save", ""], ["--appendonly", "no"]] {
        assert!(
            args.windows(2).any(|w| w == setting),
            "redis: pub/sub keeps nothing, so {setting:?}: {args:?}"
        );
    }
    // The healthcheck logs in as an account that may PING, and looks for
    // the PONG: redis-cli exits 0 on an error reply too.
    let test = strings(&redis["healthcheck"]["test"]).join(" ");
    let acl = read(format!("{}/{}", SERVERS[1].config, SERVERS[1].accounts));
    // The password from the account's secret, by the environment: not on
    // the command line, where `ps` in the container would show it.
    let user = SERVERS[1].accounts().into_iter().find(|user| {
        test.contains(&format!("--user {user} "))
            && test.contains(&format!("$$(cat {})", SERVERS[1].secret_of(user)))
    });
    assert!(!test.contains("--pass") && !test.contains(" -a "), "{test}");
    let user = user.unwrap_or_else(|| panic!("redis' healthcheck logs in as no account: {test}"));
    let may_ping = acl
        .lines()
        .find(|l| l.starts_with(&format!("user {user} ")))
        .is_some_and(|l| l.split_whitespace().any(|r| r == "+ping"));
    assert!(may_ping, "redis' healthcheck: {user} may not PING");
    assert!(
        test.contains("PONG"),
        "redis' healthcheck must look for PONG: {test}"
    );
}
