//! Health and reflection: what operators and grpcurl rely on.

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

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn reflection_lists_the_user_and_health_services(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let mut client = ServerReflectionClient::new(app.channel.clone());

    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.next().await.unwrap().unwrap();

    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!(
            "expected a service list, got {:?}",
            response.message_response
        );
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(names.contains(&"user.UserService".to_owned()), "{names:?}");
    assert!(
        names.contains(&"grpc.health.v1.Health".to_owned()),
        "{names:?}"
    );
}
