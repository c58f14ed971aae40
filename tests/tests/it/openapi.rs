//! The OpenAPI document, checked by real tools against the real system:
//! it is valid OpenAPI 3.1 (openapi-spec-validator), the gateway keeps
//! every promise it makes (a bounded Schemathesis run), and the reference
//! page renders every operation in a real browser (headless Chromium).
//! `scripts/tools.sh` installs the three; `just test` runs it first.

use std::{process::Stdio, time::Duration};

use serde_json::{Value, json};
use system_tests::{ADMIN_EMAIL, ADMIN_PASSWORD, Options, System};
use test_support::tools::{Scratch, tool};
use tokio::process::Command;

/// Runs `command` to completion within `limit`, killing it past that;
/// its exit status and everything it printed.
async fn run(mut command: Command, limit: Duration) -> (bool, String) {
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let output = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{command:?} did not finish within {limit:?}"))
        .unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), printed)
}

async fn served_document(system: &System) -> Value {
    let response = system
        .anonymous
        .get(system.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn the_document_is_valid_openapi_3_1() {
    let system = System::start(Options::default()).await;
    let document = served_document(&system).await;
    assert_eq!(document["openapi"], "3.1.0");
    let dir = Scratch::new("openapi");
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec(&document).unwrap()).unwrap();

    let mut validator = Command::new(tool("openapi-spec-validator"));
    validator.arg(&file);
    let (ok, printed) = run(validator, Duration::from_secs(60)).await;
    assert!(ok, "openapi-spec-validator: {printed}");
}

/// Schemathesis generates requests from the document — valid ones, and
/// ones the document says are invalid — and checks each answer: no 5xx,
/// only documented statuses, content types, headers and bodies, invalid
/// input refused, no route that ignores its authentication. Bounded in
/// examples and time, with a fixed seed so a CI failure can be replayed.
#[tokio::test]
async fn schemathesis_finds_no_broken_promise() {
    let system = System::start(Options::default()).await;
    let token: Value = system
        .anonymous
        .post(system.url("/auth/token"))
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap();
    let scratch = Scratch::new("schemathesis");
    let seed = std::env::var("SCHEMATHESIS_SEED").unwrap_or_else(|_| "20261202".into());

    let mut schemathesis = Command::new(tool("schemathesis"));
    schemathesis
        .arg("run")
        .arg(system.url("/openapi.json"))
        .args(["--header", &format!("Authorization: Bearer {token}")])
        // positive_data_acceptance is the one check left out: some valid
        // shapes are refused for what they hold, not their shape (an unknown
        // SKU, an email taken), and `1.0` is a JSON Schema integer that
        // serde's i64 refuses.
        .args([
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
        ])
        .args(["--max-examples", "15", "--max-time", "60"])
        .args(["--request-timeout", "10", "--workers", "1"])
        .args(["--seed", &seed])
        .args(["--no-color", "--warnings", "off"])
        // Its own state (cache, report) in a directory of its own.
        .current_dir(scratch.path())
        .env("SCHEMATHESIS_TELEMETRY", "false");
    let (ok, printed) = run(schemathesis, Duration::from_secs(180)).await;
    assert!(ok, "schemathesis (seed {seed}):\n{printed}");
    assert!(printed.contains("13 selected"), "{printed}");
}

/// The reference page in a real headless Chromium: Swagger UI's script
/// runs (from the gateway, under its content security policy), fetches
/// the document and renders every operation. The screenshot it takes is
/// the one docs/operations.md shows (target/api-reference.png).
#[tokio::test]
async fn the_reference_page_renders_every_operation_in_a_browser() {
    let system = System::start(Options::default()).await;
    let document = served_document(&system).await;
    let profile = Scratch::new("chromium");

    let browser = |extra: &[String]| {
        let mut chromium = Command::new(tool("chromium"));
        chromium
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                // Long enough for the script to load and render.
                "--virtual-time-budget=15000",
                "--window-size=1280,1800",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(extra)
            .arg(system.url("/docs/"));
        chromium
    };

    let (ok, dom) = run(browser(&["--dump-dom".into()]), Duration::from_secs(90)).await;
    assert!(ok, "chromium: {dom}");
    let rendered = dom.matches("class=\"opblock-summary-path\"").count();
    let operations: usize = document["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| item.as_object().unwrap().len())
        .sum();
    assert_eq!(rendered, operations, "operations rendered:\n{dom}");
    for path in document["paths"].as_object().unwrap().keys() {
        assert!(
            dom.contains(&format!("data-path=\"{path}\"")),
            "{path} is not on the page"
        );
    }
    assert!(
        dom.contains("rust-shop API"),
        "the title is not on the page"
    );
    assert!(
        !dom.contains("Failed to load API definition"),
        "the page could not load the document"
    );

    let screenshot = test_support::repo::root().join("target/api-reference.png");
    let _ = std::fs::remove_file(&screenshot);
    let (ok, printed) = run(
        browser(&[format!("--screenshot={}", screenshot.display())]),
        Duration::from_secs(90),
    )
    .await;
    assert!(ok, "chromium: {printed}");
    let png = std::fs::read(&screenshot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
}
