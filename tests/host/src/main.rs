//! `spintemp-host --manifest spin.toml --listen 127.0.0.1:3000 [--variable k=v]...
//! [--runtime-config-file rc.toml] [--zero-row-queries fail|empty]`
//!
//! Serves a whole Spin app where the Spin CLI is not installed (browser, fuzz
//! and load tests). Production is Spin.

use std::{net::SocketAddr, path::PathBuf};

use anyhow::Context as _;
use clap::Parser;
use spintemp_host::{App, HostOptions, ZeroRowQueries};

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
    /// Spin runtime config (key-value stores), like `spin up --runtime-config-file`.
    #[arg(long)]
    runtime_config_file: Option<PathBuf>,
    /// A Postgres `query` that matches no row: `fail` the request (Spin
    /// 4.0.0–4.0.2 never answer it, spinframework/spin#3671) or return an
    /// `empty` result (Spin 3.x).
    #[arg(long, value_enum, default_value_t = ZeroRowQueriesArg::Fail)]
    zero_row_queries: ZeroRowQueriesArg,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ZeroRowQueriesArg {
    Fail,
    Empty,
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
            runtime_config: args.runtime_config_file,
            zero_row_queries: match args.zero_row_queries {
                ZeroRowQueriesArg::Fail => ZeroRowQueries::Fail,
                ZeroRowQueriesArg::Empty => ZeroRowQueries::Empty,
            },
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
