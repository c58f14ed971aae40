use anyhow::Context;
use bench::abuse::{self, H2_CONNECTIONS, H2_STREAMS, Phase, REQUESTS, SLOW_BODIES};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let run = abuse::run().await.context("running the attack")?;
    println!(
        "\nbench-abuse: {REQUESTS} customer requests from 127.0.0.3, quiet and while 127.0.0.2 \
         holds {SLOW_BODIES} slow bodies and {H2_CONNECTIONS}×{H2_STREAMS} withheld HTTP/2 streams"
    );
    println!(
        "{:<9} {:>9} {:>9} {:>9} {:>14}  answers",
        "phase", "p50", "p99", "max", "gateway CPU/req"
    );
    for (name, phase) in [("quiet", &run.quiet), ("attacked", &run.attacked)] {
        print_phase(name, phase);
    }
    println!(
        "attacker answered: {:?} (0: closed without an answer)",
        run.attacker
    );
    Ok(())
}

fn print_phase(name: &str, phase: &Phase) {
    println!(
        "{name:<9} {:>9.1?} {:>9.1?} {:>9.1?} {:>14.2?}  {:?}",
        phase.p50, phase.p99, phase.max, phase.gateway_cpu_per_request, phase.statuses
    );
}
