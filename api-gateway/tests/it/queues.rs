//! The broker's side of a test's cleanup.

use std::time::Duration;

/// Deletes a test's queues when the test ends, even when it panicked: the
/// queues are durable, and a broker should not collect one per test run.
pub(crate) struct QueueJanitor {
    pub(crate) amqp_url: String,
    pub(crate) queues: Vec<String>,
    pub(crate) exchanges: Vec<String>,
}

impl Drop for QueueJanitor {
    fn drop(&mut self) {
        let (url, queues, exchanges) = (
            self.amqp_url.clone(),
            std::mem::take(&mut self.queues),
            std::mem::take(&mut self.exchanges),
        );
        // Drop cannot await; a short-lived thread with its own runtime can.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let connect =
                    lapin::Connection::connect(&url, lapin::ConnectionProperties::default());
                let Ok(Ok(connection)) =
                    tokio::time::timeout(Duration::from_secs(2), connect).await
                else {
                    return;
                };
                if let Ok(channel) = connection.create_channel().await {
                    for queue in queues {
                        let _ = channel
                            .queue_delete(
                                queue.as_str().into(),
                                lapin::options::QueueDeleteOptions::default(),
                            )
                            .await;
                    }
                    for exchange in exchanges {
                        let _ = channel
                            .exchange_delete(
                                exchange.as_str().into(),
                                lapin::options::ExchangeDeleteOptions::default(),
                            )
                            .await;
                    }
                }
                let _ = connection.close(200, "test done".into()).await;
            });
        });
        let _ = cleanup.join();
    }
}

/// Declares `queue` as its service does (durable): a service that ran
/// before and is down now. The gateway declares nothing, so without it a
/// request to a service that never ran is refused at once (503).
pub(crate) async fn declare_as_its_service_would(amqp_url: &str, queue: &str) {
    let connection = lapin::Connection::connect(amqp_url, lapin::ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    channel
        .queue_declare(
            queue.into(),
            lapin::options::QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            Default::default(),
        )
        .await
        .unwrap();
    let _ = connection.close(200, "declared".into()).await;
}
