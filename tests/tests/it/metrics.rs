//! Every metric every service exports says what it is: a `# HELP` line
//! for each `# TYPE`, after traffic through all four services.

use system_tests::{Options, System};

#[tokio::test]
async fn every_metric_of_every_service_has_help_text() {
    let system = System::start(Options::default()).await;
    let user = system.user_with_credit(10_000).await;
    let (status, body) = system.place_order(&user, "STICKER-PACK", 1).await;
    assert_eq!(status, 201, "{body}");
    system
        .wait_settled(std::time::Duration::from_secs(15))
        .await;

    for process in system.processes() {
        let text = process.metrics().await;
        let typed: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        assert!(!typed.is_empty(), "{}: no metrics at all", process.name);
        for name in typed {
            assert!(
                text.contains(&format!("# HELP {name} ")),
                "{}: {name} has no # HELP",
                process.name
            );
        }
    }
}
