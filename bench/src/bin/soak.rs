use anyhow::Context;
use bench::soak::{self, ALLOWED_GROWTH_MIB, SoakParams};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let params = SoakParams::from_env().context("reading the soak parameters")?;
    let (minutes, grown) = soak::run(&params).await.context("running the soak")?;
    println!(
        "\nsoak: {} minutes of soak.lua at {} connections",
        params.minutes, params.connections
    );
    let services: Vec<String> = minutes[0].rss_mib.keys().cloned().collect();
    print!("{:>6} {:>8} {:>6}", "minute", "req/s", "errors");
    for service in &services {
        print!(" {service:>21}");
    }
    println!("   (RSS MiB)");
    for (i, minute) in minutes.iter().enumerate() {
        print!(
            "{:>6} {:>8.0} {:>6}",
            i + 1,
            minute.per_second,
            minute.errors
        );
        for service in &services {
            print!(" {:>21.1}", minute.rss_mib[service]);
        }
        println!();
    }
    anyhow::ensure!(
        grown.is_empty(),
        "memory kept growing under a steady load (more than {ALLOWED_GROWTH_MIB} MiB above the first two minutes): {grown:?}"
    );
    println!("no service grew more than {ALLOWED_GROWTH_MIB} MiB above its warm level");
    Ok(())
}
