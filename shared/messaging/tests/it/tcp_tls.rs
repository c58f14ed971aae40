//! The TCP transport over mutual TLS with the development CA's
//! certificates: the server lets in only the services it names and only
//! then believes the caller a request names; the client accepts only the
//! server it meant to reach.

use std::{net::SocketAddr, time::Duration};

use contracts::identity::{Caller, Role};
use messaging::{
    AmqpConfig, Client, Connected, Router, RpcError, ServerConfig, TransportError,
    tcp::{self, TcpTrust},
};
use platform::tls::{GrpcTls, Spiffe, dev_pki::DevPki};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// The gateway's name in another namespace, signed by the same CA: what a
/// cluster-wide issuer would sign for anyone who asks there.
const ELSEWHERE: &str = "spiffe://cluster.local/ns/elsewhere/sa/api-gateway";

fn pki() -> &'static DevPki {
    static PKI: std::sync::OnceLock<DevPki> = std::sync::OnceLock::new();
    PKI.get_or_init(|| {
        let elsewhere = Spiffe::new("cluster.local", "elsewhere").unwrap();
        DevPki::generate_in(&Spiffe::default(), &[(elsewhere, "api-gateway")]).unwrap()
    })
}

fn tls(service: &str) -> GrpcTls {
    pki().tls(service).unwrap()
}

/// A server with `service`'s certificate taking calls from the gateway
/// only, answering `whoami` with the caller it believed.
async fn start(service: &str) -> (SocketAddr, CancellationToken) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = ServerConfig::new(AmqpConfig::new("amqp://unused"), "tls-test", gateway());
    let trust = TcpTrust {
        tls: tls(service).stream_server().unwrap(),
        callers: vec!["api-gateway".into()],
        spiffe: Spiffe::default(),
    };
    let router = Router::new().route("whoami", |m| async move {
        Ok(json!(m.caller.map(|c| c.user_id.to_string())))
    });
    let shutdown = CancellationToken::new();
    tokio::spawn(tcp::serve(
        listener,
        config,
        Some(trust),
        router,
        Connected::default(),
        shutdown.clone(),
    ));
    (addr, shutdown)
}

fn client(addr: SocketAddr, holder: &str, server: &str) -> Client {
    let timeout = Duration::from_secs(5);
    Client::tcp_tls(
        addr.to_string(),
        timeout,
        tls(holder).stream_client().unwrap(),
        server,
    )
    .unwrap()
}

async fn whoami(client: &Client, caller: Caller) -> Result<Value, RpcError> {
    let client = client.on_behalf_of(caller);
    client
        .send_value_within("whoami", json!({}), client.timeout())
        .await
}

fn customer() -> Caller {
    Caller {
        user_id: uuid::Uuid::now_v7(),
        role: Role::Customer,
    }
}

#[tokio::test]
async fn the_gateways_certificate_is_let_in_and_its_caller_believed() {
    let (addr, shutdown) = start("order-service").await;
    let caller = customer();

    let me = whoami(&client(addr, "api-gateway", "order-service"), caller).await;

    assert_eq!(me.unwrap(), json!(caller.user_id.to_string()));
    shutdown.cancel();
}

#[tokio::test]
async fn another_services_certificate_is_refused_whoever_it_names() {
    let (addr, shutdown) = start("order-service").await;

    let forged = whoami(
        &client(addr, "notification-service", "order-service"),
        customer(),
    )
    .await;

    match forged {
        Err(RpcError::Remote(err)) => assert_eq!(err["code"], "PERMISSION_DENIED", "{err}"),
        other => panic!("expected PERMISSION_DENIED, got {other:?}"),
    }
    shutdown.cancel();
}

#[tokio::test]
async fn the_gateways_name_minted_in_another_namespace_is_refused() {
    let (addr, shutdown) = start("order-service").await;
    let impostor = Client::tcp_tls(
        addr.to_string(),
        Duration::from_secs(5),
        pki().stranger(ELSEWHERE).unwrap().stream_client().unwrap(),
        "order-service",
    )
    .unwrap();

    let forged = whoami(&impostor, customer()).await;

    match forged {
        Err(RpcError::Remote(err)) => {
            assert_eq!(err["code"], "PERMISSION_DENIED", "{err}");
            assert!(err["message"].to_string().contains(ELSEWHERE), "{err}");
        }
        other => panic!("expected PERMISSION_DENIED, got {other:?}"),
    }
    shutdown.cancel();
}

#[tokio::test]
async fn without_a_certificate_there_is_no_connection() {
    let (addr, shutdown) = start("order-service").await;
    let plain = Client::tcp(addr.to_string(), Duration::from_secs(2));

    let refused = whoami(&plain, customer()).await;

    assert!(
        !matches!(refused, Ok(_) | Err(RpcError::Remote(_))),
        "a plain client was answered: {refused:?}"
    );
    shutdown.cancel();
}

#[tokio::test]
async fn the_client_accepts_only_the_server_it_meant() {
    // notification-service's certificate where order-service was expected.
    let (addr, shutdown) = start("notification-service").await;

    let result = whoami(&client(addr, "api-gateway", "order-service"), customer()).await;

    match result {
        Err(RpcError::Transport(TransportError::Tls(reason))) => {
            assert!(reason.to_string().contains("certificate"), "{reason}")
        }
        other => panic!("expected a TLS failure, got {other:?}"),
    }
    shutdown.cancel();
}

fn gateway() -> Vec<String> {
    vec!["api-gateway".into()]
}
