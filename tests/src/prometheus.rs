//! A real Prometheus scraping a [`System`]: the jobs of the shipped
//! `deploy/prometheus/prometheus.yml`, each job's targets replaced by the
//! admin ports of the system's processes of the same name, every interval
//! shortened to one second. It runs the `prometheus` that
//! `scripts/tools.sh` installs (Debian's), from `PATH` or `/usr/bin`, with
//! its data and log in the system's log directory, and is killed on drop.

use std::{
    collections::BTreeMap,
    fs::File,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use serde_json::Value;
use serde_norway::{Mapping, Value as Yaml};

use crate::{System, process};

/// `deploy/prometheus/prometheus.yml`, parsed.
pub fn shipped_config() -> Yaml {
    let path = test_support::repo::root().join("deploy/prometheus/prometheus.yml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// The shipped configuration with every job's targets replaced by
/// `targets[job]` (`host:port`) and its intervals by `interval`. Service
/// discovery (`*_sd_configs`) and static targets go; everything else —
/// job names, relabelling, paths — stays as shipped. Fails naming a job
/// with no targets given, or a target given for no job.
pub fn with_targets(
    shipped: &Yaml,
    targets: &BTreeMap<String, Vec<String>>,
    interval: &str,
) -> Result<Yaml, String> {
    let mut config = shipped.clone();
    let global = config
        .as_mapping_mut()
        .ok_or("the configuration is not a mapping")?
        .entry("global".into())
        .or_insert_with(|| Yaml::Mapping(Mapping::new()));
    set_intervals(global, interval)?;
    let jobs = config
        .get_mut("scrape_configs")
        .and_then(Yaml::as_sequence_mut)
        .ok_or("no scrape_configs")?;
    let mut unused: Vec<&String> = targets.keys().collect();
    for job in jobs {
        let name = job
            .get("job_name")
            .and_then(Yaml::as_str)
            .ok_or("a scrape config without job_name")?
            .to_owned();
        let addresses = targets
            .get(&name)
            .ok_or_else(|| format!("job {name:?} is no service of the system"))?;
        unused.retain(|t| **t != name);
        let job = job.as_mapping_mut().ok_or("a job is not a mapping")?;
        job.retain(|key, _| {
            key.as_str()
                .is_none_or(|k| !k.ends_with("_sd_configs") && k != "static_configs")
        });
        let static_configs: Yaml =
            serde_norway::from_str(&format!("[{{targets: [{}]}}]", addresses.join(", ")))
                .map_err(|e| e.to_string())?;
        job.insert("static_configs".into(), static_configs);
        for key in ["scrape_interval", "scrape_timeout"] {
            if job.contains_key(key) {
                job.insert(key.into(), interval.into());
            }
        }
    }
    if !unused.is_empty() {
        return Err(format!("no job scrapes {unused:?}"));
    }
    Ok(config)
}

fn set_intervals(global: &mut Yaml, interval: &str) -> Result<(), String> {
    let global = global.as_mapping_mut().ok_or("global is not a mapping")?;
    for key in ["scrape_interval", "scrape_timeout", "evaluation_interval"] {
        global.insert(key.into(), interval.into());
    }
    Ok(())
}

/// A running Prometheus server.
#[derive(Debug)]
pub struct Prometheus {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    pub log: PathBuf,
    child: Child,
    http: reqwest::Client,
}

impl Prometheus {
    /// Starts Prometheus scraping every process of `system` every second,
    /// with the shipped jobs, and waits until it is ready.
    pub async fn scrape(system: &System) -> Self {
        let mut targets: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for process in system.processes() {
            targets
                .entry(process.binary.name().to_owned())
                .or_default()
                .push(process.admin_addr.to_string());
        }
        let config = with_targets(&shipped_config(), &targets, "1s")
            .unwrap_or_else(|e| panic!("deploy/prometheus/prometheus.yml: {e}"));
        let dir = process::log_dir(&system.id).join("prometheus");
        std::fs::create_dir_all(&dir).unwrap();
        let config_file = dir.join("prometheus.yml");
        std::fs::write(&config_file, serde_norway::to_string(&config).unwrap()).unwrap();
        let listen = process::free_port();
        let log = dir.join("prometheus.log");
        let child = Command::new(binary())
            .arg(format!("--config.file={}", config_file.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={listen}"))
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .expect("starting prometheus");
        let server = Self {
            url: format!("http://{listen}"),
            log,
            child,
            http: reqwest::Client::new(),
        };
        server.wait_ready(Duration::from_secs(20)).await;
        server
    }

    async fn wait_ready(&self, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        while tokio::time::Instant::now() < deadline {
            let ready = self.http.get(format!("{}/-/ready", self.url)).send().await;
            if ready.is_ok_and(|r| r.status() == 200) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "prometheus was not ready within {within:?}; its log ({}):\n{}",
            self.log.display(),
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    /// The active targets: `(job, scrape URL, health, last error)`.
    pub async fn targets(&self) -> Vec<(String, String, String, String)> {
        let body = self.get("/api/v1/targets", &[("state", "active")]).await;
        let text = |t: &Value, key: &str| t[key].as_str().unwrap_or_default().to_owned();
        body.map(|data| {
            data["activeTargets"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| {
                    (
                        text(&t["labels"], "job"),
                        text(t, "scrapeUrl"),
                        text(t, "health"),
                        text(t, "lastError"),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
    }

    /// The instant vector `expr` evaluates to now; `Err` with Prometheus'
    /// message when it does not evaluate.
    pub async fn query(&self, expr: &str) -> Result<Vec<Value>, String> {
        let data = self.get("/api/v1/query", &[("query", expr)]).await?;
        Ok(data["result"].as_array().cloned().unwrap_or_default())
    }

    /// `GET path?params` on the HTTP API: its `data`, or its error.
    async fn get(&self, path: &str, params: &[(&str, &str)]) -> Result<Value, String> {
        let url = reqwest::Url::parse_with_params(&format!("{}{path}", self.url), params)
            .map_err(|e| e.to_string())?;
        let body: Value = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        if body["status"] == "success" {
            Ok(body["data"].clone())
        } else {
            Err(format!("{}: {}", body["errorType"], body["error"]))
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `prometheus` binary scripts/tools.sh installs (Debian's).
fn binary() -> PathBuf {
    test_support::tools::tool("prometheus")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_targets_and_intervals_of_the_shipped_jobs_change() {
        let shipped: Yaml = serde_norway::from_str(
            "global: {scrape_interval: 15s}\n\
             scrape_configs:\n\
             - job_name: a\n  \
               dns_sd_configs: [{names: [a], type: A, port: 9100}]\n  \
               relabel_configs: [{target_label: x, replacement: y}]\n",
        )
        .unwrap();
        let targets = BTreeMap::from([("a".to_owned(), vec!["127.0.0.1:1".to_owned()])]);

        let config = with_targets(&shipped, &targets, "1s").unwrap();

        let job = &config["scrape_configs"][0];
        assert_eq!(job["static_configs"][0]["targets"][0], "127.0.0.1:1");
        assert!(job.get("dns_sd_configs").is_none());
        assert_eq!(
            job["relabel_configs"],
            shipped["scrape_configs"][0]["relabel_configs"]
        );
        assert_eq!(config["global"]["scrape_interval"], "1s");
        let missing = BTreeMap::from([("b".to_owned(), vec!["127.0.0.1:1".to_owned()])]);
        assert!(with_targets(&shipped, &missing, "1s").is_err());
    }
}
