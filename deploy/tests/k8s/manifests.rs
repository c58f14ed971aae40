//! Reading the manifests the way kustomize and the kubelet do, as far as the
//! checks need: the documents a kustomization lists, and a container's
//! environment resolved through its ConfigMaps and Secrets.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

pub(crate) const BASE: &str = "deploy/k8s/base";
pub(crate) const LOCAL: &str = "deploy/k8s/overlays/local";

pub(crate) use deploy::{read, root, seconds, workspace_binaries};

/// One manifest and the file it came from, for messages.
#[derive(Debug)]
pub(crate) struct Doc {
    pub(crate) file: String,
    pub(crate) v: Value,
}

impl Doc {
    pub(crate) fn kind(&self) -> &str {
        self.v["kind"].as_str().unwrap_or_default()
    }

    pub(crate) fn name(&self) -> &str {
        self.v["metadata"]["name"].as_str().unwrap_or_default()
    }

    /// `file: Kind name`, to start every failure message with.
    pub(crate) fn id(&self) -> String {
        format!("{}: {} {}", self.file, self.kind(), self.name())
    }

    /// The labels of a Deployment's pods.
    pub(crate) fn pod_labels(&self) -> &Value {
        &self.v["spec"]["template"]["metadata"]["labels"]
    }
}

/// Every document of a (multi-document) YAML file, split on `---` lines.
pub(crate) fn documents(path: &str) -> Vec<Doc> {
    let mut texts = vec![String::new()];
    for line in read(path).lines() {
        if line.starts_with("---") {
            texts.push(String::new());
        } else {
            texts.last_mut().unwrap().extend([line, "\n"]);
        }
    }
    texts
        .iter()
        .map(|text| {
            serde_norway::from_str::<Value>(text)
                .unwrap_or_else(|e| panic!("{path} does not parse: {e}"))
        })
        .filter(|v| !v.is_null())
        .map(|v| Doc {
            file: path.to_owned(),
            v,
        })
        .collect()
}

pub(crate) fn kustomization(dir: &str) -> Value {
    serde_norway::from_str(&read(format!("{dir}/kustomization.yaml")))
        .unwrap_or_else(|e| panic!("{dir}/kustomization.yaml does not parse: {e}"))
}

/// The paths a kustomization lists under `key`: `resources` entries, or the
/// `path` of each of `patches`.
pub(crate) fn listed(kustomization: &Value, key: &str) -> Vec<String> {
    let items = kustomization[key].as_array().cloned().unwrap_or_default();
    items
        .iter()
        .filter_map(|i| i.as_str().or_else(|| i["path"].as_str()))
        .map(str::to_owned)
        .collect()
}

/// The base as kustomize reads it: every document of every listed file,
/// and the ConfigMaps it generates (by their names before kustomize adds
/// the hash, the names the Deployments refer to).
pub(crate) fn base() -> Vec<Doc> {
    let mut docs: Vec<Doc> = listed(&kustomization(BASE), "resources")
        .iter()
        .flat_map(|file| documents(&format!("{BASE}/{file}")))
        .collect();
    docs.extend(generated_config_maps(BASE));
    docs
}

/// The patches of the local overlay, as partial manifests: its patch files,
/// and the ConfigMap generators that merge into the base's.
pub(crate) fn local_patches() -> Vec<Doc> {
    let mut docs: Vec<Doc> = listed(&kustomization(LOCAL), "patches")
        .iter()
        .flat_map(|file| documents(&format!("{LOCAL}/{file}")))
        .collect();
    docs.extend(generated_config_maps(LOCAL));
    docs
}

/// The files a kustomization's generators read (`envs`, `files`), from its
/// directory.
pub(crate) fn generator_files(kustomization: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for key in ["configMapGenerator", "secretGenerator"] {
        for generator in kustomization[key].as_array().into_iter().flatten() {
            for list in ["envs", "files"] {
                for entry in generator[list].as_array().into_iter().flatten() {
                    let entry = entry.as_str().unwrap_or_default();
                    let path = entry.split_once('=').map_or(entry, |(_, path)| path);
                    out.push(path.to_owned());
                }
            }
        }
    }
    out
}

/// The ConfigMaps `dir`'s kustomization generates, with the data kustomize
/// gives them: `KEY=value` lines of its `envs` files (`#` comments and blank
/// lines skipped), then its `literals`.
fn generated_config_maps(dir: &str) -> Vec<Doc> {
    let k = kustomization(dir);
    let mut out = Vec::new();
    for generator in k["configMapGenerator"].as_array().into_iter().flatten() {
        let name = generator["name"].as_str().unwrap_or_default();
        let mut lines = Vec::new();
        for file in generator["envs"].as_array().into_iter().flatten() {
            let path = format!("{dir}/{}", file.as_str().unwrap_or_default());
            lines.extend(read(&path).lines().map(str::to_owned));
        }
        for literal in generator["literals"].as_array().into_iter().flatten() {
            lines.extend(literal.as_str().map(str::to_owned));
        }
        assert!(
            generator["files"].is_null(),
            "{dir}: configMapGenerator {name}: `files` is not read by these checks; use envs"
        );
        let mut data = serde_json::Map::new();
        for line in lines.iter().map(|l| l.trim_start()) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, value) = line.split_once('=').unwrap_or_else(|| {
                panic!("{dir}: configMapGenerator {name}: {line:?} is no KEY=value")
            });
            data.insert(key.to_owned(), Value::String(value.to_owned()));
        }
        out.push(Doc {
            file: format!("{dir}/kustomization.yaml (configMapGenerator)"),
            v: serde_json::json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": { "name": name },
                "data": data,
            }),
        });
    }
    out
}

pub(crate) fn find<'a>(docs: &'a [Doc], kind: &str, name: &str) -> Option<&'a Doc> {
    docs.iter().find(|d| d.kind() == kind && d.name() == name)
}

/// The Deployment whose pods a Service's selector picks; exactly one.
pub(crate) fn selected<'a>(docs: &'a [Doc], service: &Doc) -> &'a Doc {
    let selector = service.v["spec"]["selector"].as_object();
    let selector = selector.unwrap_or_else(|| panic!("{}: no selector", service.id()));
    let picks = |d: &&Doc| selector.iter().all(|(k, v)| &d.pod_labels()[k] == v);
    let targets: Vec<&Doc> = of_kind(docs, "Deployment").filter(picks).collect();
    match targets.as_slice() {
        [target] => target,
        _ => panic!(
            "{}: selects {} Deployments, not one",
            service.id(),
            targets.len()
        ),
    }
}

pub(crate) fn of_kind<'a>(docs: &'a [Doc], kind: &'a str) -> impl Iterator<Item = &'a Doc> {
    docs.iter().filter(move |d| d.kind() == kind)
}

/// The single container of a Deployment, the one that runs its binary.
pub(crate) fn container(d: &Doc) -> &Value {
    let containers = d.v["spec"]["template"]["spec"]["containers"].as_array();
    match containers.map(Vec::as_slice) {
        Some([container]) => container,
        _ => panic!("{}: expected exactly one container", d.id()),
    }
}

/// A container's `containerPort`s, by number and by name.
pub(crate) fn ports(container: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for p in container["ports"].as_array().into_iter().flatten() {
        out.insert(p["containerPort"].to_string());
        out.extend(p["name"].as_str().map(str::to_owned));
    }
    out
}

/// A port as a probe or a Service writes it: a number or a port name.
pub(crate) fn port_ref(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

/// `data` and `stringData` of a ConfigMap or Secret, key → value as written.
pub(crate) fn data(d: &Doc) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for field in ["data", "stringData"] {
        for (k, v) in d.v[field].as_object().into_iter().flatten() {
            let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            out.insert(k.clone(), v);
        }
    }
    out
}

/// Where a container's variable comes from.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// `value:` in the manifest.
    Literal(String),
    /// A key of a ConfigMap or Secret, by `envFrom` or `valueFrom`.
    Key {
        kind: &'static str,
        name: String,
        key: String,
    },
}

impl Source {
    pub(crate) fn is_secret(&self) -> bool {
        matches!(self, Self::Key { kind: "Secret", .. })
    }

    /// The value in `docs` (the base, or an overlay's patches).
    pub(crate) fn resolve(&self, docs: &[Doc]) -> String {
        match self {
            Self::Literal(value) => value.clone(),
            Self::Key { kind, name, key } => {
                let object = find(docs, kind, name)
                    .unwrap_or_else(|| panic!("no {kind} {name} to resolve a variable from"));
                data(object)
                    .remove(key)
                    .unwrap_or_else(|| panic!("{}: no key {key}", object.id()))
            }
        }
    }
}

const SOURCES: [(&str, &str, &str); 2] = [
    ("configMapRef", "configMapKeyRef", "ConfigMap"),
    ("secretRef", "secretKeyRef", "Secret"),
];

/// The environment of a Deployment's container: `envFrom` first, then `env`
/// (which wins, as in the kubelet). Every referenced object and key must
/// exist. Variables from the downward API (`fieldRef`) are left out.
pub(crate) fn env(docs: &[Doc], d: &Doc) -> BTreeMap<String, Source> {
    let container = container(d);
    let mut out = BTreeMap::new();
    for from in container["envFrom"].as_array().into_iter().flatten() {
        assert!(from["prefix"].is_null(), "{}: envFrom prefix", d.id());
        for (field, _, kind) in SOURCES {
            let Some(name) = from[field]["name"].as_str() else {
                continue;
            };
            let object = find(docs, kind, name)
                .unwrap_or_else(|| panic!("{}: envFrom {kind} {name}, which is missing", d.id()));
            for key in data(object).into_keys() {
                let name = name.to_owned();
                out.insert(key.clone(), Source::Key { kind, name, key });
            }
        }
    }
    for var in container["env"].as_array().into_iter().flatten() {
        let var_name = var["name"].as_str().unwrap().to_owned();
        if let Some(value) = var["value"].as_str() {
            out.insert(var_name, Source::Literal(value.to_owned()));
            continue;
        }
        for (_, field, kind) in SOURCES {
            let r = &var["valueFrom"][field];
            let (Some(name), Some(key)) = (r["name"].as_str(), r["key"].as_str()) else {
                continue;
            };
            let object = find(docs, kind, name).unwrap_or_else(|| {
                panic!(
                    "{}: {var_name} from {kind} {name}, which is missing",
                    d.id()
                )
            });
            assert!(
                data(object).contains_key(key),
                "{}: {var_name} from key {key}, which {} lacks",
                d.id(),
                object.id()
            );
            let (name, key) = (name.to_owned(), key.to_owned());
            out.insert(var_name.clone(), Source::Key { kind, name, key });
        }
    }
    out
}
