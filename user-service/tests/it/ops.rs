//! Health and reflection: what operators and grpcurl rely on; and who may
//! call at all: the services the table in `peers.rs` names, by their
//! certificates.

use std::time::Duration;

use sqlx::PgPool;
use tokio_stream::StreamExt;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};

use contracts::{
    identity::{Caller, NOTIFICATION_SERVICE, ORDER_SERVICE, Role},
    user as pb,
};
use tonic::Code;

use crate::helpers::TestApp;

async fn status(
    client: &mut HealthClient<tonic::transport::Channel>,
    service: &str,
) -> ServingStatus {
    client
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status()
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn health_is_serving_while_the_database_answers_and_not_after(pool: PgPool) {
    let app = TestApp::spawn_with(pool.clone(), Duration::from_millis(50)).await;
    let mut health = HealthClient::new(app.channel.clone());

    // The first probe runs before the server accepts calls.
    assert_eq!(
        status(&mut health, "user.UserService").await,
        ServingStatus::Serving
    );
    assert_eq!(status(&mut health, "").await, ServingStatus::Serving);

    // Losing the database (here: its pool) flips the status within a few
    // probe intervals; poll, bounded.
    pool.close().await;
    let mut not_serving = false;
    for _ in 0..100 {
        if status(&mut health, "user.UserService").await == ServingStatus::NotServing {
            not_serving = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        not_serving,
        "user.UserService still SERVING without a database"
    );
}

async fn list_services(
    channel: tonic::transport::Channel,
) -> Result<tonic::Streaming<tonic_reflection::pb::v1::ServerReflectionResponse>, tonic::Status> {
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    ServerReflectionClient::new(channel)
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .map(tonic::Response::into_inner)
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn reflection_is_off_unless_enabled(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let status = list_services(app.channel.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn reflection_lists_the_user_and_health_services(pool: PgPool) {
    let mut config = user_service::Config::new("127.0.0.1:0".parse().unwrap());
    config.reflection = true;
    let app = TestApp::spawn_config(pool, config).await;
    let mut responses = list_services(app.channel.clone()).await.unwrap();
    let response = responses.next().await.unwrap().unwrap();

    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!(
            "expected a service list, got {:?}",
            response.message_response
        );
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(names.contains(&"user.UserService".to_owned()), "{names:?}");
    // v1alpha answers too: older grpcurl and evans speak only that.
    use tonic_reflection::pb::v1alpha;
    let request = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::ListServices(String::new()),
        ),
    };
    let mut responses =
        v1alpha::server_reflection_client::ServerReflectionClient::new(app.channel.clone())
            .server_reflection_info(tokio_stream::iter([request]))
            .await
            .unwrap()
            .into_inner();
    let response = responses.next().await.unwrap().unwrap();
    let Some(v1alpha::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        response.message_response
    else {
        panic!("v1alpha: {:?}", response.message_response);
    };
    assert!(
        list.service.iter().any(|s| s.name == "user.UserService"),
        "{:?}",
        list.service
    );
    assert!(
        names.contains(&"grpc.health.v1.Health".to_owned()),
        "{names:?}"
    );
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn only_the_services_the_table_names_may_call_each_rpc(pool: PgPool) {
    let mut app = TestApp::spawn(pool).await;
    let user = app
        .users
        .create(pb::CreateUser {
            name: "Ada".into(),
            email: "ada@example.com".into(),
            password: crate::helpers::PASSWORD.into(),
        })
        .await
        .unwrap()
        .into_inner();
    let top_up = |amount_cents| pb::CreditChange {
        user_id: user.id.clone(),
        amount_cents,
        idempotency_key: String::new(),
    };
    app.users.top_up(top_up(1_000)).await.unwrap();
    let debit = pb::CreditChange {
        idempotency_key: "order-1".into(),
        ..top_up(100)
    };

    // No certificate: health answers, nothing else does.
    let anonymous = app.channel_as(None).await;
    let mut health = HealthClient::new(anonymous.clone());
    assert_eq!(status(&mut health, "").await, ServingStatus::Serving);
    let admin = Caller {
        user_id: uuid::Uuid::now_v7(),
        role: Role::Admin,
    };
    let mut nobody = TestApp::client(&anonymous, Some(admin));
    let refused = nobody.debit(debit.clone()).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    let refused = nobody.top_up(top_up(1)).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");

    // The gateway (even for an admin) may not move credit for an order…
    let refused = app.as_caller(Some(admin)).debit(debit.clone()).await;
    assert_eq!(refused.unwrap_err().code(), Code::PermissionDenied);
    // …order-service may, and may not top up.
    let balance = app.saga.debit(debit).await.unwrap().into_inner();
    assert_eq!(balance.balance_cents, 900);
    let saga_as_admin = TestApp::client(&app.channel_as(Some(ORDER_SERVICE)).await, Some(admin));
    let refused = saga_as_admin.clone().top_up(top_up(1)).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    // notification-service holds a certificate of the same CA, and no RPC.
    let notifications = app.channel_as(Some(NOTIFICATION_SERVICE)).await;
    let refused = TestApp::client(&notifications, Some(admin))
        .find_one(pb::UserById {
            id: user.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn a_certificate_naming_a_service_of_another_namespace_is_refused(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let admin = Caller {
        user_id: uuid::Uuid::now_v7(),
        role: Role::Admin,
    };
    // The same CA signed it, and its DNS name is `api-gateway`: only its
    // SPIFFE ID's namespace differs.
    let impostor = TestApp::client(&app.channel_from_elsewhere().await, Some(admin));

    let listed = impostor.clone().find_all(pb::ListUsers::default()).await;
    let keys = impostor.clone().get_jwks(pb::JwksRequest {}).await;
    for refused in [listed.map(drop), keys.map(drop)] {
        let refused = refused.unwrap_err();
        assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
        assert!(refused.message().contains("SPIFFE"), "{refused:?}");
    }
    // The gateway's own certificate, on the same server, is let in.
    app.users
        .clone()
        .get_jwks(pb::JwksRequest {})
        .await
        .unwrap();
}
