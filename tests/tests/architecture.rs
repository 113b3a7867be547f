//! The dependency rule, read from `cargo metadata`: the crates under `services/` are adapters
//! that share code only through `shared/`, never through one another.

use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace's packages and their declared dependencies.
fn metadata() -> Value {
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--offline", "--no-deps"])
        .current_dir(workspace_root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON")
}

fn host() -> String {
    let output = Command::new("rustc").arg("-vV").output().expect("rustc runs");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .expect("rustc -vV names the host")
        .to_owned()
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

/// Workspace packages by name, with the directory (`services`, `shared`, ...) they live in.
fn workspace_packages(metadata: &Value) -> HashMap<String, String> {
    let root = workspace_root();
    metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter(|p| p["source"].is_null())
        .map(|p| {
            let manifest = PathBuf::from(p["manifest_path"].as_str().expect("manifest path"));
            let relative = manifest.strip_prefix(&root).expect("a workspace member");
            let group = relative
                .components()
                .next()
                .expect("a top directory")
                .as_os_str()
                .to_string_lossy()
                .into_owned();
            (p["name"].as_str().expect("name").to_owned(), group)
        })
        .collect()
}

#[test]
fn no_service_depends_on_another_service() {
    let metadata = metadata();
    let groups = workspace_packages(&metadata);
    let services: BTreeSet<&String> = groups
        .iter()
        .filter(|(_, group)| *group == "services")
        .map(|(name, _)| name)
        .collect();
    assert!(services.len() >= 5, "the services are found: {services:?}");
    let mut arrows = Vec::new();
    for package in metadata["packages"].as_array().expect("packages") {
        let name = package["name"].as_str().expect("name").to_owned();
        if !services.contains(&name) {
            continue;
        }
        for dependency in package["dependencies"].as_array().expect("dependencies") {
            let target = dependency["name"].as_str().expect("dependency name").to_owned();
            if services.contains(&target) {
                arrows.push(format!("{name} -> {target}"));
            }
        }
    }
    assert!(arrows.is_empty(), "services depend on services: {arrows:?}");
}

/// The ops binary carries no web server, templates or OpenAPI generator: what it shares with the
/// api is the application layer. (`cargo tree` resolves features for the CLI alone, as a build of
/// it does; `cargo metadata` would unify them across the workspace.)
#[test]
fn the_cli_does_not_carry_the_http_stack() {
    let output = Command::new(env!("CARGO"))
        .args([
            "tree",
            "-p",
            "gangway-cli",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .args(["--offline", "--target", &host()])
        .current_dir(workspace_root())
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let names: BTreeSet<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    assert!(
        names.contains("gangway-app"),
        "the cli uses the application layer: {names:?}"
    );
    for web in ["gangway-api", "axum", "minijinja", "utoipa"] {
        assert!(!names.contains(web), "gangway-cli pulls in {web}");
    }
}
