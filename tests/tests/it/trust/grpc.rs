//! On user-service's gRPC port: callers are services known by their client
//! certificates, each granted its RPCs.

use system_tests::{Options, System};

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

    // order-service's may not read a user: it has no use for it.
    let orders = user_service_as(&system, Some("order-service")).await;
    let refused = as_admin(orders.clone())
        .find_one(UserById { id: user.clone() })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");

    // It may move credit for an order, and nothing was charged before it did.
    let balance = UserServiceClient::new(orders)
        .debit(debit)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(balance.balance_cents, 900);
}
