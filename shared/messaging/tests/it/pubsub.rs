//! The NATS and Redis transports against the real servers on this machine:
//! the same handlers, the same replies and errors as on RabbitMQ, and what
//! they change (no server is a fast error; queue groups on NATS, every
//! replica on Redis; no sender identity). Each test runs on both.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use contracts::{
    ErrorCode, ServiceError,
    identity::{Caller, Role},
};
use messaging::{HandlerError, Router, RpcError, Transport};
use serde_json::{Value, json};

use crate::bus::Bus;

test_support::tests_on_nats_and_redis!(
    replies_and_every_kind_of_error_have_the_rabbitmq_shapes,
    a_pattern_nobody_serves_fails_at_once_as_no_server,
    replicas_share_requests_as_the_transport_allows,
    an_event_trusted_only_from_a_broker_account_is_refused,
    shutdown_lets_a_request_in_flight_finish_and_answer,
);

fn sum(bus: &Bus) -> (String, Router) {
    let pattern = bus.pattern("sum");
    let router = Router::new().route(&pattern, |m| async move {
        let numbers: Vec<i64> =
            serde_json::from_value(m.data).map_err(|e| HandlerError::Poison(e.to_string()))?;
        Ok(json!(numbers.iter().sum::<i64>()))
    });
    (pattern, router)
}

async fn replies_and_every_kind_of_error_have_the_rabbitmq_shapes(transport: Transport) {
    let mut bus = Bus::new(transport).await;
    let (sum, router) = sum(&bus);
    let (find, broken, whoami) = (
        bus.pattern("find"),
        bus.pattern("broken"),
        bus.pattern("who"),
    );
    let router = router
        .route(&find, |_| async {
            Err::<Value, _>(HandlerError::Reply(ServiceError::new(
                ErrorCode::NotFound,
                "no such thing",
            )))
        })
        .route(&broken, |_| async {
            Err::<Value, _>(HandlerError::Internal("SELECT secret FROM t".into()))
        })
        .route(&whoami, |m| async move {
            Ok(json!(m.caller.map(|c| c.user_id.to_string())))
        });
    bus.start_server(router).await;
    let client = bus.rpc();
    let caller = Caller {
        user_id: uuid::Uuid::now_v7(),
        role: Role::Customer,
    };

    let six = client
        .send_value_within(&sum, json!([1, 2, 3]), client.timeout())
        .await;
    let missing = client
        .send_value_within(&find, json!({}), client.timeout())
        .await;
    let poison = client
        .send_value_within(&sum, json!("not numbers"), client.timeout())
        .await;
    let internal = client
        .send_value_within(&broken, json!({}), client.timeout())
        .await;
    let me = client
        .on_behalf_of(caller)
        .send_value_within(&whoami, json!({}), client.timeout())
        .await;

    assert_eq!(six.unwrap(), json!(6));
    let code = |result: Result<Value, RpcError>| match result {
        Err(RpcError::Remote(err)) => err,
        other => panic!("expected a remote error, got {other:?}"),
    };
    assert_eq!(
        code(missing),
        json!({"code": "NOT_FOUND", "message": "no such thing"})
    );
    assert_eq!(code(poison)["code"], "INVALID_ARGUMENT");
    let internal = code(internal);
    assert_eq!(
        internal,
        json!({"code": "INTERNAL", "message": "internal error"})
    );
    assert_eq!(me.unwrap(), json!(caller.user_id.to_string()));
    bus.stop().await;
}

async fn a_pattern_nobody_serves_fails_at_once_as_no_server(transport: Transport) {
    let bus = Bus::new(transport).await;
    let client = bus.rpc();

    let result = client
        .send_value_within(&bus.pattern("nobody"), json!({}), client.timeout())
        .await;

    assert!(matches!(result, Err(RpcError::NoServer)), "{result:?}");
    bus.stop().await;
}

/// NATS: replicas in one queue group run each request once. Redis: no
/// competing consumers — each replica runs every request; the client keeps
/// the first reply.
async fn replicas_share_requests_as_the_transport_allows(transport: Transport) {
    let mut bus = Bus::new(transport).await;
    let pattern = bus.pattern("count");
    let runs = Arc::new(AtomicUsize::new(0));
    for _ in 0..2 {
        let runs = runs.clone();
        let router = Router::new().route(&pattern, move |_| {
            let runs = runs.clone();
            async move {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok(json!(true))
            }
        });
        bus.start_server(router).await;
    }
    let client = bus.rpc();

    for _ in 0..40 {
        client
            .send_value_within(&pattern, json!({}), client.timeout())
            .await
            .unwrap();
    }

    let replicas = match transport {
        Transport::Redis => 2,
        _ => 1,
    };
    // Redis: the second replica's run may still be finishing.
    for _ in 0..100 {
        if runs.load(Ordering::SeqCst) >= 40 * replicas {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(runs.load(Ordering::SeqCst), 40 * replicas);
    bus.stop().await;
}

async fn an_event_trusted_only_from_a_broker_account_is_refused(transport: Transport) {
    let mut bus = Bus::new(transport).await;
    let (pattern, ran) = (bus.pattern("user_created"), Arc::new(AtomicUsize::new(0)));
    let counter = ran.clone();
    let router =
        Router::new().event_with(&pattern, "user-service", &counter, |ran, _| async move {
            ran.fetch_add(1, Ordering::SeqCst);
            Ok::<_, HandlerError>(Value::Null)
        });
    bus.start_server(router).await;
    let client = bus.rpc();

    // As an event (no reply) and as a request (to hear why).
    client
        .emit(&pattern, &json!({"user_id": "forged"}))
        .await
        .unwrap();
    let refused = client
        .send_value_within(&pattern, json!({}), client.timeout())
        .await;

    match refused {
        Err(RpcError::Remote(err)) => assert_eq!(err["code"], "PERMISSION_DENIED", "{err}"),
        other => panic!("expected PERMISSION_DENIED, got {other:?}"),
    }
    assert_eq!(ran.load(Ordering::SeqCst), 0, "a forged event was handled");
    bus.stop().await;
}

async fn shutdown_lets_a_request_in_flight_finish_and_answer(transport: Transport) {
    let mut bus = Bus::new(transport).await;
    let pattern = bus.pattern("slow");
    let router = Router::new().route(&pattern, |_| async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        Ok(json!("done"))
    });
    let shutdown = bus.start_server(router).await;
    let client = bus.rpc();

    let call = {
        let (client, pattern) = (client.clone(), pattern.clone());
        tokio::spawn(async move {
            client
                .send_value_within(&pattern, json!({}), client.timeout())
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    shutdown.cancel();

    assert_eq!(call.await.unwrap().unwrap(), json!("done"));
    // Stopped: nobody serves the pattern any more.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let after = client
        .send_value_within(&pattern, json!({}), client.timeout())
        .await;
    assert!(matches!(after, Err(RpcError::NoServer)), "{after:?}");
    bus.stop().await;
}
