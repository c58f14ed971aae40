//! The deployment files, checked by the real tools that read them: the
//! Compose specification (check-jsonschema), hadolint, kustomize (`kubectl
//! kustomize`) and the Kubernetes API schemas (kubernetes-validate),
//! promtool. scripts/tools.sh installs them into target/tools/bin and `just
//! test` puts that first on PATH; a missing tool fails its test and says so
//! (`deploy::tools::tool`).

#![allow(clippy::unwrap_used)]

use std::{
    collections::BTreeSet,
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use deploy::{
    root,
    tools::{Scratch, copy_tree, run, tool},
};
use serde_json::Value;

/// Kubernetes versions the manifests are validated against: the oldest
/// they need (native gRPC probes, `preStop: sleep`; deploy/k8s/README.md)
/// and the newest kubernetes-validate bundles.
const KUBERNETES_VERSIONS: [&str; 2] = ["1.30.0", "1.37.0"];
/// Compose mounts it into Prometheus; the metrics work keeps it.
const PROMETHEUS_CONFIG: &str = "deploy/prometheus/prometheus.yml";

fn in_root(program: &str) -> Command {
    let mut command = Command::new(tool(program));
    command.current_dir(root());
    command
}

#[test]
fn docker_compose_yml_follows_the_compose_specification() {
    run(in_root("check-jsonschema").args([
        "--builtin-schema",
        "vendor.compose-spec",
        "docker-compose.yml",
    ]));
}

#[test]
fn the_dockerfile_passes_hadolint() {
    // Every rule, down to `info`: fix the Dockerfile rather than ignore one
    // (an ignore belongs in .hadolint.yaml, with the reason beside it).
    run(in_root("hadolint").args(["--no-color", "--failure-threshold", "info", "Dockerfile"]));
}

/// The documents of a rendered (multi-document) YAML stream.
fn documents(yaml: &str) -> Vec<Value> {
    let mut texts = vec![String::new()];
    for line in yaml.lines() {
        if line.starts_with("---") {
            texts.push(String::new());
        } else {
            texts.last_mut().unwrap().extend([line, "\n"]);
        }
    }
    texts
        .iter()
        .map(|text| serde_norway::from_str::<Value>(text).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

/// cert-manager's API group: kubernetes-validate has the schemas of
/// Kubernetes' own kinds only, so its Issuers and Certificates are checked
/// by deploy/tests/k8s/identities.rs instead.
const CERT_MANAGER: &str = "cert-manager.io/v1";

/// Validates every object of `file` with kubernetes-validate, strictly
/// (unknown fields are errors) against each of [`KUBERNETES_VERSIONS`];
/// an object whose kind it has no schema for fails too (it would only warn).
/// cert-manager's objects are left out ([`CERT_MANAGER`]).
fn validate(file: &Path) {
    let all = documents(&fs::read_to_string(file).unwrap());
    let kept: Vec<&Value> = all
        .iter()
        .filter(|d| d["apiVersion"] != CERT_MANAGER)
        .collect();
    let file = &if kept.len() == all.len() {
        file.to_owned()
    } else {
        let yaml: Vec<String> = kept
            .iter()
            .map(|d| serde_norway::to_string(d).unwrap())
            .collect();
        let core = file.with_extension("core.yaml");
        fs::write(&core, yaml.join("---\n")).unwrap();
        core
    };
    let objects = kept.len();
    assert!(objects > 0, "{}: nothing to validate", file.display());
    for version in KUBERNETES_VERSIONS {
        let printed = run(Command::new(tool("kubernetes-validate"))
            .args(["--strict", "--kubernetes-version", version])
            .arg(file));
        let passed = printed.lines().filter(|l| l.contains(" passed ")).count();
        assert!(
            passed == objects && !printed.contains("WARN"),
            "{}: {passed} of {objects} objects validated against Kubernetes {version}:\n{printed}",
            file.display()
        );
    }
}

/// `kubectl kustomize dir`, written beside it as `<name>.yaml`.
fn render(dir: &Path, name: &str) -> PathBuf {
    let rendered = run(Command::new(tool("kubectl")).arg("kustomize").arg(dir));
    let out = dir.parent().unwrap().join(format!("{name}.yaml"));
    fs::write(&out, rendered).unwrap();
    out
}

/// The local overlay's generated Secrets read the certificates `user-service
/// generate-dev-certs` makes into its git-ignored certs/; kustomize only
/// needs the files, so the copy gets placeholders under the same names.
fn placeholder_certificates(overlay: &Path) {
    let kustomization: Value =
        serde_norway::from_str(&fs::read_to_string(overlay.join("kustomization.yaml")).unwrap())
            .unwrap();
    let generators = kustomization["secretGenerator"].as_array().unwrap();
    for file in generators
        .iter()
        .flat_map(|g| g["files"].as_array().unwrap())
    {
        let file = file.as_str().unwrap();
        let path = overlay.join(file.split_once('=').map_or(file, |(_, path)| path));
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(
            &path,
            "-----BEGIN PLACEHOLDER-----\n-----END PLACEHOLDER-----\n",
        )
        .unwrap();
    }
}

fn of_kind<'a>(docs: &'a [Value], kind: &'a str) -> impl Iterator<Item = &'a Value> {
    docs.iter().filter(move |d| d["kind"] == kind)
}

/// The name kustomize gave the generated rust-shop-config, after checking
/// that every Deployment reads it by that name and that the pods carry the
/// labels the NetworkPolicies select.
fn config_map_in_use(rendered: &Path) -> String {
    let docs = documents(&fs::read_to_string(rendered).unwrap());
    let names: Vec<&str> = of_kind(&docs, "ConfigMap")
        .filter_map(|c| c["metadata"]["name"].as_str())
        .collect();
    let [name] = names.as_slice() else {
        panic!(
            "{}: one ConfigMap expected, not {names:?}",
            rendered.display()
        );
    };
    let hash = name.strip_prefix("rust-shop-config-");
    assert!(
        hash.is_some_and(|h| !h.is_empty()),
        "{name}: the generated name carries a hash of the data"
    );
    for d in of_kind(&docs, "Deployment") {
        let id = d["metadata"]["name"].as_str().unwrap();
        let pod = &d["spec"]["template"];
        let reads = pod["spec"]["containers"][0]["envFrom"][0]["configMapRef"]["name"].as_str();
        assert_eq!(reads, Some(*name), "{id}: envFrom the generated ConfigMap");
        assert_eq!(
            pod["metadata"]["labels"]["app.kubernetes.io/part-of"], "rust-shop",
            "{id}: pods labelled for the admin-ports NetworkPolicy"
        );
    }
    (*name).to_owned()
}

#[test]
fn the_kustomizations_render_and_every_object_matches_the_kubernetes_schemas() {
    // A copy: the overlay's certs/ may hold a developer's real keys.
    let scratch = Scratch::new("deploy-k8s");
    let k8s = scratch.path().join("k8s");
    copy_tree(&root().join("deploy/k8s"), &k8s);
    placeholder_certificates(&k8s.join("overlays/local"));

    let base = render(&k8s.join("base"), "base");
    validate(&base);
    let base_config = config_map_in_use(&base);

    let local = render(&k8s.join("overlays/local"), "local");
    validate(&local);
    let local_config = config_map_in_use(&local);
    assert_ne!(
        base_config, local_config,
        "the overlay's merged endpoint changes the ConfigMap's name"
    );
    let docs = documents(&fs::read_to_string(&local).unwrap());
    for d in docs.iter().filter(|d| d["kind"] != "Namespace") {
        assert_eq!(d["metadata"]["namespace"], "rust-shop", "{}", d["metadata"]);
    }
    for d in of_kind(&docs, "Deployment") {
        let image = &d["spec"]["template"]["spec"]["containers"][0]["image"];
        assert_eq!(image, "rust-shop:dev", "{}", d["metadata"]["name"]);
    }

    // A change of configuration is a new name in every pod template: a
    // rollout on `kubectl apply`.
    let env = k8s.join("base/config.env");
    let mut config = fs::read_to_string(&env).unwrap();
    config = config.replace("RUST_LOG=info", "RUST_LOG=debug");
    fs::write(&env, config).unwrap();
    let changed = config_map_in_use(&render(&k8s.join("base"), "changed"));
    assert_ne!(
        changed, base_config,
        "a changed value renames the ConfigMap"
    );

    validate(&root().join("deploy/k8s/deps/network-policies.yaml"));
}

/// Where a rule file's unit tests are: `alerts.yml`'s in `alerts.test.yml`,
/// beside it.
const RULE_TESTS: &str = ".test.yml";
/// Where every alert's runbook is, its `runbook_url` an anchor in it.
const RUNBOOK: &str = "docs/operations.md";

#[test]
fn prometheus_config_and_rules_pass_promtool() {
    assert!(
        root().join(PROMETHEUS_CONFIG).exists(),
        "{PROMETHEUS_CONFIG} is missing: docker-compose.yml mounts it into Prometheus"
    );
    // `check config` loads the rule files the config names too.
    run(in_root("promtool").args(["check", "config", PROMETHEUS_CONFIG]));
    let config = yaml(&root().join(PROMETHEUS_CONFIG));
    let (tests, rules): (Vec<PathBuf>, Vec<PathBuf>) =
        yaml_files(&root().join("deploy/prometheus"))
            .into_iter()
            .filter(|f| !f.ends_with(PROMETHEUS_CONFIG))
            .partition(|f| f.to_string_lossy().ends_with(RULE_TESTS));
    assert!(
        !rules.is_empty(),
        "no rule files beside {PROMETHEUS_CONFIG}"
    );
    for file in &rules {
        run(in_root("promtool").args(["check", "rules"]).arg(file));
        let name = file.file_name().unwrap().to_string_lossy();
        assert!(
            config["rule_files"]
                .as_array()
                .is_some_and(|loaded| loaded.iter().any(|f| *f == *name)),
            "{PROMETHEUS_CONFIG} does not load {name} (rule_files): its alerts never fire"
        );
        let stem = name.trim_end_matches(".yaml").trim_end_matches(".yml");
        let test = file.with_file_name(format!("{stem}{RULE_TESTS}"));
        assert!(
            tests.contains(&test),
            "{} has no unit tests: write {} for `promtool test rules`",
            file.display(),
            test.display()
        );
        assert_alerts_runbooked_and_tested(file, &test);
    }
    // Each names its rule files relative to itself; promtool resolves them so.
    for file in &tests {
        run(in_root("promtool").args(["test", "rules"]).arg(file));
    }
}

fn yaml(file: &Path) -> Value {
    serde_norway::from_str(&fs::read_to_string(file).unwrap())
        .unwrap_or_else(|e| panic!("{} does not parse: {e}", file.display()))
}

/// Every alert of `rules` pages or files a ticket, with a `for`, a summary,
/// a description and a runbook: a heading of [`RUNBOOK`] that names it;
/// and `tests` has a case where it fires and one where it stays quiet.
fn assert_alerts_runbooked_and_tested(rules: &Path, tests: &Path) {
    let runbook = fs::read_to_string(root().join(RUNBOOK)).unwrap();
    let anchors = anchors(&runbook);
    let tests_yaml = yaml(tests);
    let cases: Vec<&Value> = tests_yaml["tests"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|t| t["alert_rule_test"].as_array().into_iter().flatten())
        .collect();
    let rules_yaml = yaml(rules);
    let alerts = rules_yaml["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_array().into_iter().flatten())
        .filter(|r| r.get("alert").is_some());
    for alert in alerts {
        let name = alert["alert"].as_str().unwrap();
        let severity = alert["labels"]["severity"].as_str();
        assert!(
            matches!(severity, Some("page" | "ticket")),
            "{name}: severity page or ticket, not {severity:?}"
        );
        assert!(alert.get("for").is_some(), "{name}: say how long (`for`)");
        let annotations = &alert["annotations"];
        for key in ["summary", "description"] {
            assert!(annotations[key].is_string(), "{name}: no {key}");
        }
        let url = annotations["runbook_url"].as_str().unwrap_or_default();
        let anchor = url.strip_prefix(RUNBOOK).and_then(|a| a.strip_prefix('#'));
        assert!(
            anchor.is_some_and(|a| anchors.contains(a)),
            "{name}: runbook_url {url:?} is not {RUNBOOK}#<a heading of it>"
        );
        assert!(
            runbook.contains(&format!("`{name}`")),
            "{name}: {RUNBOOK} does not say what to do about it"
        );
        let expected = |c: &&&Value| c["alertname"] == name;
        let fires = cases
            .iter()
            .filter(expected)
            .any(|c| c["exp_alerts"].as_array().is_some_and(|a| !a.is_empty()));
        let quiet = cases
            .iter()
            .filter(expected)
            .any(|c| c["exp_alerts"].as_array().is_none_or(Vec::is_empty));
        assert!(
            fires && quiet,
            "{name}: {} needs a case where it fires and one where it does not",
            tests.display()
        );
    }
}

/// The anchors GitHub gives a Markdown file's headings: lowercase, spaces
/// to `-`, punctuation other than `-` and `_` dropped. Lines in fenced code
/// blocks (a shell comment) are not headings.
fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut fenced = false;
    let mut out = BTreeSet::new();
    for line in markdown.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with('#') {
            let title = line.trim_start_matches('#').trim();
            let anchor = title
                .to_lowercase()
                .chars()
                .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
                .map(|c| if c == ' ' { '-' } else { c })
                .collect();
            out.insert(anchor);
        }
    }
    out
}

/// Every `.yml` / `.yaml` file under `dir`, at any depth.
fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(yaml_files(&path));
        } else if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
            out.push(path);
        }
    }
    out
}
