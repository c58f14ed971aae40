use anyhow::Context;
use bench::{Params, report, workloads};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let params = Params::from_env().context("reading the bench parameters")?;
    let report = workloads::run(&params).await.context("running the bench")?;
    report::print(&report);
    let path = report::write_json(&report)?;
    println!("\nmachine-readable: {}", path.display());
    Ok(())
}
