//! The TCP transport: our client and server, and each against real NestJS
//! 11 (`Transport.TCP`): the same replies and errors as on RabbitMQ, events
//! both ways, and a server that is not there is a fast error.

use std::{net::SocketAddr, time::Duration};

use contracts::{ErrorCode, ServiceError};
use messaging::{
    AmqpConfig, Client, Connected, HandlerError, Router, RpcError, ServerConfig, tcp,
    wire::NO_MESSAGE_HANDLER,
};
use serde_json::{Value, json};
use test_support::nestjs::{self, Transport};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn router(events: mpsc::UnboundedSender<Value>) -> Router {
    Router::new()
        .route("sum", |m| async move {
            let numbers: Vec<i64> =
                serde_json::from_value(m.data).map_err(|e| HandlerError::Poison(e.to_string()))?;
            Ok(json!(numbers.iter().sum::<i64>()))
        })
        .route("find", |_| async {
            Err::<Value, _>(HandlerError::Reply(ServiceError::new(
                ErrorCode::NotFound,
                "no such thing",
            )))
        })
        .route("greet", |m| async move {
            Ok(json!(format!("hello {}", m.data.as_str().unwrap_or("?"))))
        })
        .route("order_placed", move |m| {
            let events = events.clone();
            async move {
                let _ = events.send(m.data);
                Ok(Value::Null)
            }
        })
}

/// Our server on a free port; stopped (and awaited) by the returned token.
async fn start(events: mpsc::UnboundedSender<Value>) -> (SocketAddr, CancellationToken) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = ServerConfig::new(
        AmqpConfig::new("amqp://unused"),
        format!("tcp-{}", addr.port()),
        vec!["api-gateway".into()],
    );
    let shutdown = CancellationToken::new();
    tokio::spawn(tcp::serve(
        listener,
        config,
        None,
        router(events),
        Connected::default(),
        shutdown.clone(),
    ));
    (addr, shutdown)
}

#[tokio::test]
async fn our_client_gets_replies_errors_and_non_ascii_from_our_server() {
    let (events, mut received) = mpsc::unbounded_channel();
    let (addr, shutdown) = start(events).await;
    let client = Client::tcp(addr.to_string(), Duration::from_secs(5));
    let call = |pattern: &'static str, data: Value| {
        let client = client.clone();
        async move {
            client
                .send_value_within(pattern, data, client.timeout())
                .await
        }
    };

    assert_eq!(call("sum", json!([1, 2, 3])).await.unwrap(), json!(6));
    assert_eq!(
        call("greet", json!("Zoë 😀")).await.unwrap(),
        json!("hello Zoë 😀")
    );
    match call("find", json!({})).await {
        Err(RpcError::Remote(err)) => {
            assert_eq!(
                err,
                json!({"code": "NOT_FOUND", "message": "no such thing"})
            )
        }
        other => panic!("{other:?}"),
    }
    match call("multiply", json!([2])).await {
        Err(RpcError::Remote(err)) => assert_eq!(err, json!(NO_MESSAGE_HANDLER)),
        other => panic!("{other:?}"),
    }
    client
        .emit("order_placed", &json!({"order_id": "o-1"}))
        .await
        .unwrap();
    let event = tokio::time::timeout(Duration::from_secs(5), received.recv())
        .await
        .unwrap();
    assert_eq!(event, Some(json!({"order_id": "o-1"})));
    shutdown.cancel();
}

#[tokio::test]
async fn a_server_that_is_not_there_is_a_fast_not_connected() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let client = Client::tcp(addr.to_string(), Duration::from_secs(10));

    let result = client
        .send_value_within("sum", json!([1]), client.timeout())
        .await;

    assert!(matches!(result, Err(RpcError::NotConnected)), "{result:?}");
}

#[tokio::test]
async fn a_nestjs_client_gets_replies_and_errors_and_emits_to_our_server() {
    let (events, mut received) = mpsc::unbounded_channel();
    let (addr, shutdown) = start(events).await;
    let tcp = Transport::Tcp(addr.port());

    let ok = nestjs::send_over(&tcp, "", "sum", json!([1, 2, 3]), None).await;
    let greeting = nestjs::send_over(&tcp, "", "greet", json!("Zoë 😀"), None).await;
    let business = nestjs::send_over(&tcp, "", "find", json!({}), None).await;
    nestjs::emit_over(&tcp, "", "order_placed", json!({"order_id": "o-2"})).await;
    let event = tokio::time::timeout(Duration::from_secs(10), received.recv())
        .await
        .unwrap();

    assert_eq!(ok, json!({"response": 6}));
    assert_eq!(greeting, json!({"response": "hello Zoë 😀"}));
    assert_eq!(
        business,
        json!({"err": {"code": "NOT_FOUND", "message": "no such thing"}})
    );
    assert_eq!(event, Some(json!({"order_id": "o-2"})));
    shutdown.cancel();
}

#[tokio::test]
async fn our_client_sends_to_and_emits_events_at_a_nestjs_server() {
    let port = {
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        free.local_addr().unwrap().port()
    };
    let mut server =
        nestjs::Server::start_over(&Transport::Tcp(port), "", "sum", "order_placed", None).await;
    let client = Client::tcp(format!("127.0.0.1:{port}"), Duration::from_secs(10));

    let nine = client
        .send_value_within("sum", json!([4, 5]), client.timeout())
        .await
        .unwrap();
    client
        .emit("order_placed", &json!({"note": "déjà vu"}))
        .await
        .unwrap();
    let event = server.next_event().await;

    assert_eq!(nine, json!(9));
    assert_eq!(
        event,
        json!({"pattern": "order_placed", "data": {"note": "déjà vu"}})
    );
    server.stop().await;
}

#[tokio::test]
async fn shutdown_answers_the_request_in_flight_and_a_restarted_server_is_reached_again() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let slow = Router::new().route("slow", |_| async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        Ok(json!("done"))
    });
    let config = ServerConfig::new(
        AmqpConfig::new("amqp://unused"),
        "tcp-shutdown",
        vec!["api-gateway".into()],
    );
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(tcp::serve(
        listener,
        config.clone(),
        None,
        slow.clone(),
        Connected::default(),
        shutdown.clone(),
    ));
    let client = Client::tcp(addr.to_string(), Duration::from_secs(5));

    let call = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .send_value_within("slow", json!({}), client.timeout())
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    shutdown.cancel();
    assert_eq!(call.await.unwrap().unwrap(), json!("done"));
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the server did not stop")
        .unwrap();

    // Down: a fast error. Up again on the same port: the client reconnects.
    let down = client
        .send_value_within("slow", json!({}), client.timeout())
        .await;
    assert!(
        matches!(down, Err(RpcError::NotConnected | RpcError::ConnectionLost)),
        "{down:?}"
    );
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let again = CancellationToken::new();
    tokio::spawn(tcp::serve(
        listener,
        config,
        None,
        slow,
        Connected::default(),
        again.clone(),
    ));
    let up = client
        .send_value_within("slow", json!({}), client.timeout())
        .await;
    assert_eq!(up.unwrap(), json!("done"));
    again.cancel();
}
