//! Service-to-service trust on the broker (docs/security.md): every service
//! logs in with its own account, permitted only what it does. Tried as a
//! holder of the gateway's credentials — the internet-facing service — would:
//! the broker refuses what the account may not do, and a forged event that
//! gets through to a queue is dead-lettered, never run.

use std::time::Duration;

use lapin::{
    BasicProperties,
    options::{BasicConsumeOptions, BasicPublishOptions},
};
use serde_json::json;
use system_tests::{Options, System};

/// Publishes `body` to `exchange` with `routing_key` on `channel` (confirm
/// mode) and returns the broker's refusal, if it refused.
async fn publish(
    channel: &lapin::Channel,
    exchange: &str,
    routing_key: &str,
    properties: BasicProperties,
) -> Result<(), lapin::Error> {
    let body = json!({"pattern": routing_key, "data": {}}).to_string();
    channel
        .basic_publish(
            exchange.into(),
            routing_key.into(),
            BasicPublishOptions::default(),
            body.as_bytes(),
            properties,
        )
        .await?
        .await?;
    Ok(())
}

fn refused(result: Result<(), lapin::Error>, what: &str) {
    let error = result.expect_err(what);
    let text = error.to_string();
    assert!(
        text.contains("ACCESS_REFUSED") || text.contains("access to") || text.contains("403"),
        "{what}: {text}"
    );
}

#[tokio::test]
async fn each_account_may_do_only_what_its_service_does() {
    let system = System::start(Options::default()).await;
    let events = system.events_exchange.clone();

    // The gateway publishes no events…
    let (_c, gateway) = system.connect_as("api-gateway").await;
    refused(
        publish(
            &gateway,
            &events,
            "user_created",
            BasicProperties::default(),
        )
        .await,
        "the gateway's account published to the events exchange",
    );
    // …and consumes no service's queue: orders_queue is order-service's.
    let (_c, gateway) = system.connect_as("api-gateway").await;
    let consumed = gateway
        .basic_consume(
            system.orders_queue.as_str().into(),
            "".into(),
            BasicConsumeOptions::default(),
            Default::default(),
        )
        .await
        .map(|_| ());
    refused(consumed, "the gateway's account consumed orders_queue");

    // order-service publishes its own events, not user-service's.
    let (_c, orders) = system.connect_as("order-service").await;
    refused(
        publish(&orders, &events, "user_created", BasicProperties::default()).await,
        "order-service's account published user_created",
    );
    // notification-service publishes no events at all.
    let (_c, notifications) = system.connect_as("notification-service").await;
    refused(
        publish(
            &notifications,
            &events,
            "order_confirmed",
            BasicProperties::default(),
        )
        .await,
        "notification-service's account published an event",
    );
    // Nor does anyone pass for user-service: RabbitMQ checks the user_id.
    let (_c, gateway) = system.connect_as("api-gateway").await;
    let forged = BasicProperties::default().with_user_id("user-service".into());
    let error = publish(&gateway, "", &system.orders_queue, forged)
        .await
        .expect_err("a user_id other than the login was accepted");
    assert!(error.to_string().contains("user_id"), "{error}");

    // Everything the system does still works with these accounts.
    let user = system.user_with_credit(100_000).await;
    let (status, body) = system.place_order(&user, "STICKER-PACK", 1).await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn a_forged_user_created_changes_no_recipient_and_is_dead_lettered() {
    let system = System::start(Options::default()).await;
    let victim = system.customer().await;
    let notifications = system.db("notifications").await;
    let recipient = || async {
        sqlx::query_scalar::<_, String>("SELECT email FROM recipients WHERE user_id = $1::uuid")
            .bind(&victim)
            .fetch_optional(&notifications)
            .await
            .unwrap()
    };
    // The genuine user_created arrives through the outbox and the exchange.
    let mut email = None;
    for _ in 0..100 {
        email = recipient().await;
        if email.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let email = email.expect("the victim's user_created was never handled");

    // With the gateway's credentials, straight into notification-service's
    // events queue through the default exchange (the gateway may publish
    // there: it sends requests that way).
    let forged = json!({
        "pattern": "user_created",
        "data": {
            "event_id": uuid::Uuid::now_v7(),
            "occurred_at": "2026-12-02T00:00:00Z",
            "schema_version": 1,
            "user_id": victim,
            "name": "Victim",
            "email": "attacker@example.com",
        },
    });
    let (_c, gateway) = system.connect_as("api-gateway").await;
    gateway
        .basic_publish(
            "".into(),
            system.notification_events_queue.as_str().into(),
            BasicPublishOptions::default(),
            forged.to_string().as_bytes(),
            BasicProperties::default().with_user_id("api-gateway".into()),
        )
        .await
        .unwrap()
        .await
        .unwrap();

    let dead_letters = format!("{}.dead-letter", system.notification_events_queue);
    let mut reasons = Vec::new();
    for _ in 0..100 {
        reasons = system.dead_letter_reasons(&dead_letters).await;
        if !reasons.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(
        reasons[0].contains("came through the default exchange"),
        "{reasons:?}"
    );
    assert_eq!(recipient().await, Some(email), "the recipient changed");
}

/// A channel to the system's first user-service that checks the server's
/// certificate and presents `service`'s (`None`: no certificate).
async fn user_service_as(system: &System, service: Option<&str>) -> tonic::transport::Channel {
    use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
    let read = |name: &str| std::fs::read_to_string(system.certs.join(name)).unwrap();
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(read("ca.pem")))
        .domain_name("user-service");
    if let Some(service) = service {
        let (cert, key) = (
            read(&format!("{service}.pem")),
            read(&format!("{service}.key")),
        );
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    let addr = system.user_services[0].listen_addr.unwrap();
    Endpoint::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap()
}

#[tokio::test]
async fn user_service_knows_its_callers_by_certificate_and_grants_each_its_rpcs() {
    use contracts::user::{CreditChange, UserById, user_service_client::UserServiceClient};
    use tonic::Code;

    let system = System::start(Options::default()).await;
    let user = system.user_with_credit(1_000).await;
    let debit = CreditChange {
        user_id: user.clone(),
        amount_cents: 100,
        idempotency_key: "trust-test".into(),
    };
    // Metadata naming an admin: believed only from a known service.
    let as_admin = |channel| {
        UserServiceClient::with_interceptor(channel, |mut request: tonic::Request<()>| {
            let metadata = request.metadata_mut();
            metadata.insert(
                "x-caller-id",
                uuid::Uuid::now_v7().to_string().parse().unwrap(),
            );
            metadata.insert("x-caller-role", "admin".parse().unwrap());
            Ok(request)
        })
    };

    // Plaintext does not even get a gRPC answer from a TLS port.
    let addr = system.user_services[0].listen_addr.unwrap();
    let plaintext = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await;
    if let Ok(channel) = plaintext {
        let answer = UserServiceClient::new(channel)
            .find_one(UserById { id: user.clone() })
            .await;
        assert!(answer.is_err(), "a plaintext call was answered: {answer:?}");
    }
    // TLS without a client certificate: UNAUTHENTICATED, even naming an admin.
    let anonymous = user_service_as(&system, None).await;
    let refused = as_admin(anonymous.clone())
        .find_one(UserById { id: user.clone() })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    let refused = as_admin(anonymous).debit(debit.clone()).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");

    // The gateway's identity may not move credit for an order.
    let gateway = user_service_as(&system, Some("api-gateway")).await;
    let refused = as_admin(gateway.clone())
        .debit(debit.clone())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    let refused = as_admin(gateway)
        .refund(contracts::user::RefundRequest {
            user_id: user.clone(),
            debit_idempotency_key: "any".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");

    // order-service's may, and nothing was charged before it did.
    let orders = user_service_as(&system, Some("order-service")).await;
    let balance = UserServiceClient::new(orders)
        .debit(debit)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(balance.balance_cents, 900);
}

#[tokio::test]
async fn each_service_connects_as_a_role_that_owns_only_its_own_database() {
    let system = System::start(Options::default()).await;
    // Work that touched every database: sign-up, an order, notifications.
    let user = system.user_with_credit(10_000).await;
    let (status, body) = system.place_order(&user, "STICKER-PACK", 1).await;
    assert_eq!(status, 201, "{body}");
    system.wait_settled(Duration::from_secs(15)).await;

    for (name, role) in [
        ("users", "user_service"),
        ("orders", "order_service"),
        ("notifications", "notification_service"),
    ] {
        let admin = system.db(name).await;
        // The database, and every table its migrations made, are the role's.
        let owners: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT tableowner::text FROM pg_tables WHERE schemaname = 'public'
             UNION SELECT pg_get_userbyid(datdba)::text FROM pg_database
             WHERE datname = current_database()",
        )
        .fetch_all(&admin)
        .await
        .unwrap();
        assert_eq!(owners, [role], "{name}");
        // The service is connected as that role (the test itself is the
        // superuser), which holds no power beyond its database.
        let connected: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT usename::text FROM pg_stat_activity
             WHERE datname = current_database() AND usename <> current_user",
        )
        .fetch_all(&admin)
        .await
        .unwrap();
        assert_eq!(connected, [role], "{name}: who is connected");
        let (superuser, create_db, create_role): (bool, bool, bool) = sqlx::query_as(
            "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = $1",
        )
        .bind(role)
        .fetch_one(&admin)
        .await
        .unwrap();
        assert_eq!(
            (superuser, create_db, create_role),
            (false, false, false),
            "{role}"
        );
    }

    // order-service's role cannot even connect to user-service's database.
    let orders_url = system.service_database_url("orders");
    let into_users = orders_url.replace(
        &format!("/{}?", system.database_name("orders")),
        &format!("/{}?", system.database_name("users")),
    );
    assert_ne!(into_users, orders_url);
    let refused = sqlx::PgPool::connect(&into_users).await.unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("permission denied for database"),
        "{refused}"
    );
}
