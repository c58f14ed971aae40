use std::time::{Duration, Instant};

use contracts::{ErrorCode, ServiceError};
use messaging::{
    AmqpConfig, Client, HandlerError, Link, Router, RpcError, wire::NO_MESSAGE_HANDLER,
};
use serde_json::{Value, json};

use crate::helpers::{Bus, Counter};

fn sum_router() -> Router {
    Router::new().route("sum", |m| async move {
        let numbers: Vec<i64> =
            serde_json::from_value(m.data).map_err(|e| HandlerError::Poison(e.to_string()))?;
        Ok(json!(numbers.iter().sum::<i64>()))
    })
}

#[tokio::test]
async fn send_gets_the_handlers_reply() {
    let mut bus = Bus::new().await;
    bus.start_server(sum_router());
    let client = bus.client(Duration::from_secs(5)).await;

    let sum: i64 = client.send("sum", &[1, 2, 3]).await.unwrap();

    assert_eq!(sum, 6);
    bus.cleanup().await;
}

#[tokio::test]
async fn many_concurrent_sends_share_one_client_and_each_gets_its_own_reply() {
    let mut bus = Bus::new().await;
    bus.start_server(sum_router());
    let client = bus.client(Duration::from_secs(10)).await;

    let mut calls = tokio::task::JoinSet::new();
    for i in 0..200_i64 {
        let client = client.clone();
        calls.spawn(async move { (i, client.send::<_, i64>("sum", &[i, 1000]).await.unwrap()) });
    }
    for (i, sum) in calls.join_all().await {
        assert_eq!(sum, i + 1000);
    }
    bus.cleanup().await;
}

#[tokio::test]
async fn a_business_error_travels_as_a_structured_err_and_is_acked() {
    let mut bus = Bus::new().await;
    bus.start_server(Router::new().route("find", |_| async {
        Err::<Value, _>(HandlerError::Reply(ServiceError::new(
            ErrorCode::NotFound,
            "no such thing",
        )))
    }));
    let client = bus.client(Duration::from_secs(5)).await;

    let err = client.send_value("find", json!({})).await.unwrap_err();

    let RpcError::Remote(err) = err else {
        panic!("expected a remote error, got {err:?}")
    };
    let err: ServiceError = serde_json::from_value(err).unwrap();
    assert_eq!(err, ServiceError::new(ErrorCode::NotFound, "no such thing"));
    assert_eq!(bus.depth(&bus.config.queue).await, 0, "acked, not requeued");
    assert_eq!(
        bus.depth(&bus.config.dead_letter_queue).await,
        0,
        "not dead-lettered"
    );
    bus.cleanup().await;
}

#[tokio::test]
async fn an_unknown_pattern_gets_the_nestjs_error_and_is_dead_lettered() {
    let mut bus = Bus::new().await;
    bus.start_server(sum_router());
    let client = bus.client(Duration::from_secs(5)).await;

    let err = client
        .send_value("multiply", json!([2, 3]))
        .await
        .unwrap_err();

    assert!(
        matches!(&err, RpcError::Remote(Value::String(s)) if s == NO_MESSAGE_HANDLER),
        "{err:?}"
    );
    let dead = bus.next_dead_letter().await;
    let body: Value = serde_json::from_slice(&dead.delivery.data).unwrap();
    assert_eq!(body["pattern"], "multiply");
    bus.cleanup().await;
}

#[tokio::test]
async fn a_send_with_no_server_times_out_and_the_request_is_never_executed_later() {
    let mut bus = Bus::new().await;
    let deadline = Duration::from_millis(300);
    let client = bus.client(deadline).await;
    let late = Counter::default();

    // A queue no server has ever declared: returned by the broker, NoServer
    // at once (the client declares nothing).
    let started = Instant::now();
    let err = client.send_value("late", json!({})).await.unwrap_err();
    assert!(matches!(err, RpcError::NoServer), "{err:?}");
    assert!(started.elapsed() < deadline, "{:?}", started.elapsed());

    // Its server ran before and is down now: the request waits in the queue.
    bus.declare(&bus.config.queue).await;

    let started = Instant::now();
    let err = client.send_value("late", json!({})).await.unwrap_err();
    let waited = started.elapsed();

    assert!(matches!(err, RpcError::Timeout(_)), "{err:?}");
    assert!(
        waited < Duration::from_secs(3),
        "answered after {waited:?}, not near the deadline"
    );

    // Let the expiration pass, then start the server. The queue is FIFO, so
    // once a later request is answered, the expired one had its chance.
    tokio::time::sleep(deadline).await;
    let counter = late.clone();
    bus.start_server(sum_router().route("late", move |_| {
        let counter = counter.clone();
        async move {
            counter.bump();
            Ok(json!(null))
        }
    }));
    bus.wait_serving().await;
    let client = Client::amqp(
        &Link::start(bus.config.amqp.clone()),
        &bus.config.queue,
        Duration::from_secs(5),
    );
    assert!(client.wait_connected(Duration::from_secs(5)).await);
    let _: i64 = client.send("sum", &[1]).await.unwrap();
    assert_eq!(late.get(), 0, "an expired request was executed");
    bus.cleanup().await;
}

#[tokio::test]
async fn a_send_while_the_broker_is_unreachable_fails_fast() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let client = Client::amqp(
        &Link::start(AmqpConfig::new(format!(
            "amqp://guest:guest@127.0.0.1:{port}/%2f"
        ))),
        "nowhere",
        Duration::from_secs(30),
    );

    let started = Instant::now();
    let err = client.send_value("sum", json!([1])).await.unwrap_err();

    assert!(matches!(err, RpcError::NotConnected), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(1));
}
