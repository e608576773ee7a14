//! Prints audit events as they arrive in JetStream, one JSON line each:
//! the stand-in for `nats sub 'audit.>'` where the NATS CLI is not installed.
//!
//!     cargo run -p audit-relay --example audit-watch               # new events
//!     cargo run -p audit-relay --example audit-watch -- --all      # the whole stream first
//!     cargo run -p audit-relay --example audit-watch -- --subject 'audit.customer.*'
//!
//! It reads through an ordered consumer, which the server forgets when the
//! watcher exits: nothing is acknowledged or removed from the stream.

use anyhow::{Context, Result};
use async_nats::jetstream::{self, consumer::pull::OrderedConfig, consumer::DeliverPolicy};
use clap::Parser;
use futures::StreamExt;

#[derive(Parser)]
struct Args {
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    nats_url: String,
    #[arg(long, env = "AUDIT_RELAY_STREAM", default_value = "AUDIT")]
    stream: String,
    /// Only events on this subject (wildcards allowed).
    #[arg(long, default_value = "audit.>")]
    subject: String,
    /// Start from the first event in the stream instead of the next new one.
    #[arg(long)]
    all: bool,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let client = async_nats::connect(&args.nats_url)
        .await
        .with_context(|| format!("cannot connect to {}", args.nats_url))?;
    let stream = jetstream::new(client)
        .get_stream(&args.stream)
        .await
        .with_context(|| format!("no stream {} (has audit-relay run yet?)", args.stream))?;
    let consumer = stream
        .create_consumer(OrderedConfig {
            filter_subject: args.subject.clone(),
            deliver_policy: if args.all {
                DeliverPolicy::All
            } else {
                DeliverPolicy::New
            },
            ..Default::default()
        })
        .await?;
    eprintln!(
        "watching {} on stream {} (Ctrl-C to stop)",
        args.subject, args.stream
    );
    let mut messages = consumer.messages().await?;
    while let Some(message) = messages.next().await {
        let message = message?;
        println!(
            "{} {}",
            message.subject,
            String::from_utf8_lossy(&message.payload)
        );
    }
    Ok(())
}
