//! `just soak`: a steady mixed load (`bench/lua/soak.lua`) for
//! `SOAK_MINUTES` on the release stack, each service's resident memory
//! sampled at the end of every minute. Memory that keeps growing under a
//! steady load is a leak (or, as the Prometheus recorder was before it got
//! its upkeep, a buffer nobody drains): the run fails when a service ends
//! more than [`ALLOWED_GROWTH_MIB`] above the most it used in the first two
//! minutes, once its caches and pools have warmed up.

use std::{collections::BTreeMap, path::PathBuf, sync::Arc, time::Duration};

use system_tests::{Options, System, process::binaries_dir};

use crate::{procs::Group, wrk};

/// How much a service's RSS may end above its warm level.
pub const ALLOWED_GROWTH_MIB: f64 = 4.0;

/// One minute of the soak: requests per second, errors, RSS per service.
#[derive(Debug, Clone)]
pub struct Minute {
    pub per_second: f64,
    pub errors: u64,
    pub rss_mib: BTreeMap<String, f64>,
}

/// Parameters: `SOAK_MINUTES` (10), `SOAK_CONNECTIONS` (16: steady, well
/// below saturation), `BENCH_USERS` users (1000).
#[derive(Debug, Clone)]
pub struct SoakParams {
    pub minutes: u32,
    pub connections: u32,
    pub users: usize,
}

impl SoakParams {
    pub fn from_env() -> Result<Self, platform::env::ConfigError> {
        use platform::env::parse_or;
        Ok(Self {
            minutes: parse_or("SOAK_MINUTES", 10)?.max(3),
            connections: parse_or("SOAK_CONNECTIONS", 16)?,
            users: parse_or("BENCH_USERS", 1000)?,
        })
    }
}

/// Runs the soak; the minutes, and the services whose memory grew.
pub async fn run(params: &SoakParams) -> anyhow::Result<(Vec<Minute>, Vec<String>)> {
    let lua_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("lua");
    let out_dir = binaries_dir().join("../bench");
    std::fs::create_dir_all(&out_dir)?;
    eprintln!("starting the system (release binaries)...");
    let system = Arc::new(
        System::start(Options {
            prefix: "soak",
            ..Options::default()
        })
        .await,
    );
    eprintln!("seeding {} users...", params.users);
    let ids = out_dir.join("soak-user-ids.txt");
    crate::workloads::seed_customers(&system, params.users, &ids).await?;

    let services: Vec<Group> = system
        .processes()
        .map(|p| Group::one(p.binary.name(), p.pid()))
        .collect();
    let load = wrk::Load {
        threads: 2,
        connections: params.connections,
        duration: Duration::from_secs(60),
    };
    let mut minutes = Vec::new();
    for minute in 1..=params.minutes {
        let (lua_dir, ids, load) = (lua_dir.clone(), ids.clone(), load.clone());
        let base = system.url("");
        let result = tokio::task::spawn_blocking(move || {
            wrk::run(&lua_dir, "soak.lua", &base, &ids, &load, load.duration)
        })
        .await??;
        let rss_mib = services
            .iter()
            .map(|g| (g.name.clone(), g.rss_mib()))
            .collect();
        let sample = Minute {
            per_second: result.per_second(),
            errors: result.errors(),
            rss_mib,
        };
        eprintln!(
            "minute {minute}: {:.0} req/s, {} errors, RSS MiB {:?}",
            sample.per_second, sample.errors, sample.rss_mib
        );
        minutes.push(sample);
    }
    Ok((minutes.clone(), grown(&minutes)))
}

/// The services that ended more than [`ALLOWED_GROWTH_MIB`] above their
/// warm level (the most of the first two minutes).
pub fn grown(minutes: &[Minute]) -> Vec<String> {
    let (Some(last), true) = (minutes.last(), minutes.len() >= 3) else {
        return Vec::new();
    };
    last.rss_mib
        .iter()
        .filter(|(service, end)| {
            let warm = minutes[..2]
                .iter()
                .filter_map(|m| m.rss_mib.get(*service))
                .fold(0.0_f64, |a, b| a.max(*b));
            **end > warm + ALLOWED_GROWTH_MIB
        })
        .map(|(service, _)| service.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minute(gateway: f64) -> Minute {
        Minute {
            per_second: 1.0,
            errors: 0,
            rss_mib: [("api-gateway".to_owned(), gateway)].into(),
        }
    }

    #[test]
    fn growth_is_measured_from_the_warm_level() {
        let steady = [minute(15.0), minute(18.0), minute(17.0), minute(19.5)];
        assert!(grown(&steady).is_empty());
        let leaking = [minute(15.0), minute(18.0), minute(21.0), minute(25.0)];
        assert_eq!(grown(&leaking), ["api-gateway"]);
    }
}
