//! At the edge: slow bodies, HTTP/2 streams withholding their DATA, idle
//! HTTP/2 connections, forwarded addresses.

use std::time::{Duration, Instant};

use serde_json::json;
use system_tests::{Options, System};
use tokio::{io::AsyncReadExt, task::JoinSet};

use system_tests::attack::{
    customer_request, percentile, slow_bodies, status_line, withheld_streams,
};

use super::{ATTACKER, CUSTOMER, client_from, connect_from};

#[tokio::test]
async fn slow_bodies_and_withheld_streams_from_one_address_leave_others_their_share() {
    let system = System::start(Options {
        env: vec![("BODY_READ_TIMEOUT".into(), "3s".into())],
        ..Options::default()
    })
    .await;
    let gateway = system.gateway.listen_addr.unwrap();
    let customer_id = system.user_with_credit(1_000_000).await;
    let customer = client_from(CUSTOMER, Some(&system.token(&customer_id)));

    // The attack: 512 log-ins whose bodies never finish…
    // Connections first: one address holds at most 256 open at once
    // (MAX_CONNECTIONS_PER_CLIENT); the rest are closed as accepted.
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(connect_from(ATTACKER, gateway).await.unwrap());
    }
    let mut reads = JoinSet::new();
    for mut stream in idle {
        reads.spawn(async move {
            let mut byte = [0u8; 1];
            // Closed: end of stream (or a reset) within the second; held:
            // still open when it is over.
            let read = tokio::time::timeout(Duration::from_secs(1), stream.read(&mut byte));
            matches!(read.await, Ok(Ok(0) | Err(_)))
        });
    }
    let closed_at_once = reads.join_all().await.into_iter().filter(|c| *c).count();
    assert_eq!(
        closed_at_once, 44,
        "of 300 connections from one address, all but 256 are closed at once"
    );

    let attack_started = Instant::now();
    let slow_bodies = slow_bodies(ATTACKER, gateway, 512).await;
    // …and three HTTP/2 connections of 200 streams holding back their DATA.
    let mut streams = JoinSet::new();
    for _ in 0..3 {
        streams.spawn(withheld_streams(
            ATTACKER,
            gateway,
            200,
            Duration::from_secs(20),
        ));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Meanwhile the customer, from another address, reads products and
    // places orders.
    let mut latencies = Vec::new();
    let mut failures = Vec::new();
    for i in 0..60 {
        let started = Instant::now();
        let response = customer_request(&system, &customer, i).await;
        latencies.push(started.elapsed());
        match response {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => failures.push(format!("{i}: {}", r.status())),
            Err(e) => failures.push(format!("{i}: {e}")),
        }
    }
    latencies.sort();
    let p99 = percentile(&latencies, 0.99);
    eprintln!(
        "customer under attack: p50 {:?}, p99 {p99:?}, max {:?}",
        percentile(&latencies, 0.5),
        latencies.last().unwrap()
    );

    // Every attacking request was answered: 429 past its share at once, 408
    // for those that held a slot once the body timeout (3 s) passed, or its
    // connection closed as accepted past the cap per address (0).
    let mut bodies = JoinSet::new();
    for stream in slow_bodies {
        bodies.spawn(status_line(stream));
    }
    let bodies: Vec<u16> = bodies.join_all().await;
    let streams: Vec<u16> = streams.join_all().await.concat();
    let slots_released = attack_started.elapsed();
    assert!(
        failures.is_empty(),
        "the customer was refused: {failures:?}"
    );
    for statuses in [&bodies, &streams] {
        assert!(
            statuses.iter().all(|s| [0, 408, 429].contains(s)),
            "{statuses:?}"
        );
    }
    assert!(bodies.contains(&408) && bodies.contains(&429), "{bodies:?}");
    let metrics = system.gateway.metrics().await;
    for refused in [
        r#"http_connections_refused_total{limit="address"}"#,
        r#"http_fair_share_refusals_total{limit="address"}"#,
        r#"http_fair_share_refusals_total{limit="body_timeout"}"#,
    ] {
        assert!(metrics.contains(refused), "no {refused} in {metrics}");
    }
    // Its slots are back: the same address is served again.
    let attacker = client_from(ATTACKER, None);
    let again = attacker.get(system.url("/products")).send().await.unwrap();
    assert_eq!(again.status(), 200, "after {slots_released:?}");
}

#[tokio::test]
async fn an_idle_http2_connection_is_closed_after_the_idle_timeout() {
    let system = System::start(Options {
        env: vec![("HEADER_READ_TIMEOUT".into(), "1s".into())],
        ..Options::default()
    })
    .await;
    let gateway = system.gateway.listen_addr.unwrap();
    let tcp = connect_from(ATTACKER, gateway).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    let connection = tokio::spawn(connection);
    let mut client = client.ready().await.unwrap();
    let request = http::Request::get(format!("http://{gateway}/health"))
        .body(())
        .unwrap();
    let (response, _) = client.send_request(request, true).unwrap();
    assert_eq!(response.await.unwrap().status(), 200);
    let answered = Instant::now();

    // Nothing more is sent; the gateway says GOAWAY once idle 1 s, and the
    // connection ends (hyper alone keeps it while pings are answered).
    let ended = tokio::time::timeout(Duration::from_secs(10), connection).await;
    assert!(
        ended.is_ok(),
        "the idle HTTP/2 connection was still open after 10 s"
    );
    let idle_for = answered.elapsed();
    assert!(
        idle_for > Duration::from_millis(500) && idle_for < Duration::from_secs(5),
        "closed after {idle_for:?}"
    );
}

#[tokio::test]
async fn forwarded_addresses_count_only_from_a_trusted_proxy() {
    // 127.0.0.2 is the reverse proxy; 127.0.0.3 is a client claiming to be
    // one.
    let system = System::start(Options {
        env: vec![
            ("TRUSTED_PROXIES".into(), format!("{ATTACKER}/32")),
            ("LOGIN_LIMIT_PER_ADDRESS".into(), "2".into()),
        ],
        ..Options::default()
    })
    .await;
    let attempts = |from: &'static str, forwarded_for: &'static str| {
        let client = client_from(from, None);
        let url = system.url("/auth/token");
        async move {
            let mut statuses = Vec::new();
            for _ in 0..3 {
                let response = client
                    .post(&url)
                    .header("x-forwarded-for", forwarded_for)
                    .json(&json!({"email": "nobody@example.com", "password": "x"}))
                    .send()
                    .await
                    .unwrap();
                statuses.push(response.status().as_u16());
            }
            statuses
        }
    };

    // Through the proxy, each forwarded client has its own limit…
    assert_eq!(attempts(ATTACKER, "203.0.113.1").await, [401, 401, 429]);
    assert_eq!(attempts(ATTACKER, "203.0.113.2").await, [401, 401, 429]);
    // …and a client writing the header itself is still its own address.
    assert_eq!(attempts(CUSTOMER, "203.0.113.3").await, [401, 401, 429]);
    assert_eq!(attempts(CUSTOMER, "203.0.113.4").await, [429, 429, 429]);
}
