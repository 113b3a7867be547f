//! The api against its own OpenAPI document, judged by schemathesis (pinned in
//! tests/support/python-requirements.txt): every check it has, at least 100 generated requests
//! per operation, and its stateful phase, which follows the document's links from each created
//! resource to the operations that take its id. Any answer the document does not describe, any
//! valid request refused, any 5xx fails the test with schemathesis' report.

use gangway_e2e::{python_tools, spawn_projector, TestApi, ADMIN_TOKEN};
use gangway_testkit::TestEnv;

const EXAMPLES_PER_OPERATION: &str = "100";

/// Runs schemathesis on the operations whose path matches `paths`, as `token`; returns its report
/// when it finds anything.
/// The whole report is kept as `target/tmp/schemathesis-<name>.txt`, every request and answer
/// beside it as `schemathesis-<name>.yaml`.
fn schemathesis(base_url: &str, name: &str, paths: &str, token: &str) -> Result<(), String> {
    let tmp = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let cassette = tmp.join(format!("schemathesis-{name}.yaml"));
    let output = python_tools::module(env!("CARGO_TARGET_TMPDIR"), "schemathesis.cli")
        .current_dir(env!("CARGO_TARGET_TMPDIR"))
        .args(["run", &format!("{base_url}/openapi.json")])
        .args([
            "--experimental",
            "openapi-3.1",
            "--experimental",
            "stateful-test-runner",
        ])
        .args(["--checks", "all", "--stateful", "links"])
        .args(["--hypothesis-max-examples", EXAMPLES_PER_OPERATION])
        // The same requests every run: a failure reproduces, and CI meets no new input by chance.
        .arg("--hypothesis-derandomize")
        .args(["--include-path-regex", paths])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--no-color", "--show-trace"])
        .arg(format!("--cassette-path={}", cassette.display()))
        .output()
        .expect("start python3 with schemathesis");
    let report =
        String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    let kept = tmp.join(format!("schemathesis-{name}.txt"));
    std::fs::write(&kept, &report).expect("keep the report");
    // Its closing summary: operations, checks and how many cases each passed; stateful links.
    let summary = report.find("SUMMARY").map_or(report.as_str(), |at| &report[at..]);
    println!("schemathesis on {paths}:\n{summary}");
    if output.status.success() {
        Ok(())
    } else {
        Err(report)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_the_document_does_not_describe() {
    let env = TestEnv::new().await;
    let api = TestApi::spawn(&env).await;
    let projector = spawn_projector(&env, env.bus().await);
    let (_, key) = api.create_org("Conformance").await;

    let (integrator, operator) = tokio::task::spawn_blocking({
        let base_url = api.base_url.clone();
        move || {
            (
                schemathesis(&base_url, "integrator", "^/v1/", &key),
                schemathesis(&base_url, "operator", "^/(admin/|healthz|readyz)", ADMIN_TOKEN),
            )
        }
    })
    .await
    .expect("schemathesis ran");
    projector.cancel();
    if let Err(report) = integrator {
        panic!("schemathesis on /v1 (API key):\n{report}");
    }
    if let Err(report) = operator {
        panic!("schemathesis on /admin and health (admin token):\n{report}");
    }
}
