//! Every delivery settled exactly once: acked, retried then acked, an event
//! requeued while its dependency is down, or dead-lettered with its reason
//! when no retry can fix it — never dropped.

use std::time::Duration;

use lapin::BasicProperties;
use messaging::{HandlerError, REASON_HEADER, Router, RpcError};
use serde_json::{Value, json};

use crate::helpers::{Bus, Counter};

fn reason(message: &lapin::message::BasicGetMessage) -> String {
    let headers = message.delivery.properties.headers().clone().unwrap();
    match headers.inner().get(REASON_HEADER).unwrap() {
        lapin::types::AMQPValue::LongString(s) => {
            String::from_utf8_lossy(s.as_bytes()).into_owned()
        }
        other => panic!("unexpected header {other:?}"),
    }
}

fn echo() -> Router {
    Router::new().route("echo", |m| async move { Ok(m.data) })
}

#[tokio::test]
async fn a_poison_body_is_dead_lettered_and_the_next_request_is_served() {
    let mut bus = Bus::new().await;
    bus.start_server(echo());
    let client = bus.client(Duration::from_secs(5)).await;

    bus.publish_raw(b"\xff not json", BasicProperties::default())
        .await;
    bus.publish_raw(br#"{"data": 1}"#, BasicProperties::default())
        .await;
    let answer: Value = client
        .send("echo", &json!({"still": "serving"}))
        .await
        .unwrap();

    assert_eq!(answer, json!({"still": "serving"}));
    let first = bus.next_dead_letter().await;
    let second = bus.next_dead_letter().await;
    assert_eq!(
        first.delivery.data, b"\xff not json",
        "the original bytes are kept"
    );
    assert!(
        reason(&first).contains("not a NestJS envelope"),
        "{}",
        reason(&first)
    );
    assert!(
        reason(&second).contains("not a NestJS envelope"),
        "{}",
        reason(&second)
    );
    bus.cleanup().await;
}

#[tokio::test]
async fn a_transient_failure_is_retried_until_it_succeeds() {
    let mut bus = Bus::new().await;
    let runs = Counter::default();
    let counter = runs.clone();
    bus.start_server(Router::new().route("flaky", move |_| {
        let counter = counter.clone();
        async move {
            match counter.bump() {
                1 | 2 => Err(HandlerError::Transient("database restarting".into())),
                n => Ok(json!(n)),
            }
        }
    }));
    let client = bus.client(Duration::from_secs(5)).await;

    let answer: usize = client.send("flaky", &json!({})).await.unwrap();

    assert_eq!((answer, runs.get()), (3, 3));
    assert_eq!(bus.depth(&bus.config.dead_letter_queue).await, 0);
    bus.cleanup().await;
}

#[tokio::test]
async fn exhausted_retries_answer_unavailable_and_keep_nothing() {
    let mut bus = Bus::new().await;
    let runs = Counter::default();
    let counter = runs.clone();
    bus.start_server(Router::new().route("down", move |_| {
        let counter = counter.clone();
        async move {
            counter.bump();
            Err::<Value, _>(HandlerError::Transient("user-service unavailable".into()))
        }
    }));
    let client = bus.client(Duration::from_secs(5)).await;

    let err = client.send_value("down", json!({})).await.unwrap_err();

    let RpcError::Remote(err) = err else {
        panic!("{err:?}")
    };
    assert_eq!(err["code"], "UNAVAILABLE", "{err}");
    assert_eq!(runs.get(), bus.config.max_attempts as usize);
    // The sender was told and retries with its key: nothing is wrong with
    // the request, so it is neither dead-lettered nor requeued.
    assert_eq!(bus.depth(&bus.config.dead_letter_queue).await, 0);
    assert_eq!(bus.depth(&bus.config.queue).await, 0, "not requeued");
    bus.cleanup().await;
}

/// A dependency that takes its time to fail (a database's acquire timeout):
/// the server stops retrying when another run could not end before the
/// requester's deadline, and answers UNAVAILABLE while it still listens —
/// not a 504 that says less.
#[tokio::test]
async fn retries_stop_in_time_to_answer_unavailable_before_the_deadline() {
    let mut bus = Bus::new().await;
    bus.config.max_attempts = 10;
    bus.config.retry_delay = Duration::from_millis(100);
    let runs = Counter::default();
    let counter = runs.clone();
    bus.start_server(Router::new().route("slow-down", move |_| {
        let counter = counter.clone();
        async move {
            counter.bump();
            tokio::time::sleep(Duration::from_millis(400)).await;
            Err::<Value, _>(HandlerError::Transient("pool timed out".into()))
        }
    }));
    let client = bus.client(Duration::from_secs(2)).await;

    let err = client.send_value("slow-down", json!({})).await.unwrap_err();

    let RpcError::Remote(err) = err else {
        panic!("the deadline passed first: {err:?}")
    };
    assert_eq!(err["code"], "UNAVAILABLE", "{err}");
    // 400 ms runs 100, 200, 400 ms apart fit three times into 2 s, not ten.
    assert!(
        (2..=3).contains(&runs.get()),
        "{} runs before giving up",
        runs.get()
    );
    bus.cleanup().await;
}

#[tokio::test]
async fn an_event_outlasting_its_retries_is_requeued_and_handled_once_the_dependency_is_back() {
    let mut bus = Bus::new().await;
    let runs = Counter::default();
    let counter = runs.clone();
    let attempts = bus.config.max_attempts as usize;
    bus.start_server(echo().route("order_confirmed", move |_| {
        let counter = counter.clone();
        async move {
            // Down for every attempt of the first delivery.
            if counter.bump() <= attempts {
                Err(HandlerError::Transient("database restarting".into()))
            } else {
                Ok(Value::Null)
            }
        }
    }));
    let client = bus.client(Duration::from_secs(5)).await;

    client
        .emit("order_confirmed", &json!({"order_id": "o1"}))
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while runs.get() <= attempts {
        assert!(
            std::time::Instant::now() < deadline,
            "ran {} times",
            runs.get()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // FIFO: once a later request is answered, the event has been settled.
    let _: Value = client.send("echo", &json!(1)).await.unwrap();

    assert_eq!(runs.get(), attempts + 1, "handled once it could be");
    assert_eq!(bus.depth(&bus.config.dead_letter_queue).await, 0);
    assert_eq!(bus.depth(&bus.config.queue).await, 0);
    bus.cleanup().await;
}

#[tokio::test]
async fn events_run_their_handler_without_a_reply() {
    let mut bus = Bus::new().await;
    let seen = Counter::default();
    let counter = seen.clone();
    bus.start_server(echo().route("user_created", move |_| {
        let counter = counter.clone();
        async move {
            counter.bump();
            Ok(Value::Null)
        }
    }));
    let client = bus.client(Duration::from_secs(5)).await;

    client
        .emit("user_created", &json!({"id": "u1"}))
        .await
        .unwrap();
    // FIFO: once a later request is answered, the event has been handled.
    let _: Value = client.send("echo", &json!(1)).await.unwrap();

    assert_eq!(seen.get(), 1);
    bus.cleanup().await;
}

#[tokio::test]
async fn a_panicking_handler_dead_letters_its_message_and_the_next_is_served() {
    let mut bus = Bus::new().await;
    bus.start_server(echo().route("boom", |_| async move {
        if true {
            panic!("index out of bounds");
        }
        Ok(Value::Null)
    }));
    let client = bus.client(Duration::from_secs(5)).await;

    let err = client.send_value("boom", json!({})).await.unwrap_err();
    let RpcError::Remote(err) = err else {
        panic!("{err:?}")
    };
    assert_eq!(err["code"], "INTERNAL", "{err}");
    let answer: Value = client.send("echo", &json!("still here")).await.unwrap();
    assert_eq!(answer, json!("still here"));
    let dead = bus.next_dead_letter().await;
    assert!(
        reason(&dead).contains("handler panicked: index out of bounds"),
        "{}",
        reason(&dead)
    );
    assert_eq!(bus.depth(&bus.config.queue).await, 0);
    bus.cleanup().await;
}
