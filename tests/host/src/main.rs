//! `spintemp-host --manifest spin.toml --listen 127.0.0.1:3000 [--variable k=v]...`
//!
//! Serves a whole Spin app where the Spin CLI is not installed (browser, fuzz
//! and load tests). Production is Spin.

use std::{net::SocketAddr, path::PathBuf};

use anyhow::Context as _;
use clap::Parser;
use spintemp_host::{App, HostOptions};

#[derive(Parser)]
#[command(
    version,
    about = "Runs a Spin app's HTTP components the way `spin up` does (test host)"
)]
struct Args {
    /// The application manifest.
    #[arg(long, short = 'f', default_value = "spin.toml")]
    manifest: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000", env = "SPIN_HTTP_LISTEN_ADDR")]
    listen: SocketAddr,
    /// Application variable `name=value` (repeatable), like `spin up --variable`.
    #[arg(long = "variable", value_parser = parse_variable)]
    variables: Vec<(String, String)>,
}

fn parse_variable(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected NAME=VALUE, got {s:?}"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let app = App::load(
        &args.manifest,
        HostOptions {
            variables: args.variables,
        },
    )
    .await?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("Unable to listen on {}", args.listen))?;
    let base_url = format!("http://{}", listener.local_addr()?);
    println!("\nServing {base_url}");
    println!("Available Routes:");
    for (component, route) in app.routes() {
        println!("  {component}: {base_url}{route}");
    }
    tokio::select! {
        result = app.serve(listener) => result,
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}
