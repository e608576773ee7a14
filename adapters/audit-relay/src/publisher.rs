//! The NATS side: the stream, and pipelined publishes with acks.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use async_nats::connection::State;
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{self, stream};
use async_nats::{Client, ConnectOptions};
use tracing::info;

use crate::config::Config;
use crate::event::OutboxEvent;

/// What the relay needs to know about its stream.
#[derive(Debug, Clone)]
pub struct StreamSettings {
    pub name: String,
    pub subjects: Vec<String>,
    pub subject_prefix: String,
    pub duplicate_window: Duration,
    pub replicas: usize,
}

impl StreamSettings {
    pub fn from_config(config: &Config) -> StreamSettings {
        StreamSettings {
            name: config.stream.clone(),
            subjects: config.stream_subjects(),
            subject_prefix: config.subject_prefix.clone(),
            duplicate_window: config.duplicate_window,
            replicas: config.stream_replicas,
        }
    }

    fn stream_config(&self) -> stream::Config {
        stream::Config {
            name: self.name.clone(),
            subjects: self.subjects.clone(),
            duplicate_window: self.duplicate_window,
            num_replicas: self.replicas,
            storage: stream::StorageType::File,
            ..Default::default()
        }
    }
}

pub struct Publisher {
    client: Client,
    jetstream: jetstream::Context,
    settings: StreamSettings,
    /// Whether the stream is known to exist; cleared when a publish finds no
    /// stream (deleted, or a NATS server that lost its storage).
    stream_ready: AtomicBool,
}

impl Publisher {
    /// Connects in the background: the relay starts, and keeps running,
    /// whether or not NATS is up; the client reconnects forever.
    pub async fn connect(
        config: &Config,
        ack_timeout: Duration,
        max_in_flight: usize,
    ) -> Result<Publisher> {
        let mut options = ConnectOptions::new()
            .name("audit-relay")
            .retry_on_initial_connect()
            .max_reconnects(None);
        if let Some(creds) = &config.nats_creds {
            options = options
                .credentials_file(creds)
                .await
                .with_context(|| format!("cannot read NATS credentials {}", creds.display()))?;
        }
        let client = options
            .connect(
                config
                    .nats_url
                    .split(',')
                    .map(str::trim)
                    .collect::<Vec<_>>(),
            )
            .await
            .context("invalid NATS URL")?;
        let jetstream = jetstream::ContextBuilder::new()
            .timeout(ack_timeout)
            .max_ack_inflight(max_in_flight)
            .build(client.clone());
        Ok(Publisher {
            client,
            jetstream,
            settings: StreamSettings::from_config(config),
            stream_ready: AtomicBool::new(false),
        })
    }

    pub fn stream_is_ready(&self) -> bool {
        self.stream_ready.load(Ordering::Acquire)
    }

    pub fn is_connected(&self) -> bool {
        self.client.connection_state() == State::Connected
    }

    pub fn connection_state(&self) -> String {
        self.client.connection_state().to_string()
    }

    /// Creates the stream unless it exists. An existing stream is used as it
    /// is: its settings belong to whoever manages NATS.
    pub async fn ensure_stream(&self) -> Result<()> {
        let stream = self
            .jetstream
            .get_or_create_stream(self.settings.stream_config())
            .await
            .with_context(|| format!("cannot get or create stream {}", self.settings.name))?;
        let window = stream.cached_info().config.duplicate_window;
        if window < self.settings.duplicate_window {
            tracing::warn!(stream = %self.settings.name, ?window,
                "the stream's duplicate window is shorter than configured: replays after longer outages may be stored twice");
        }
        if !self.stream_ready.swap(true, Ordering::AcqRel) {
            info!(stream = %self.settings.name, subjects = ?stream.cached_info().config.subjects, "stream ready");
        }
        Ok(())
    }

    /// Sends the whole batch, then waits for every ack. The event id is the
    /// `Nats-Msg-Id`, so JetStream drops a message it already holds from an
    /// earlier try of the same batch.
    pub async fn publish(&self, events: &[OutboxEvent]) -> Result<()> {
        if !self.is_connected() {
            // Queued publishes would only pile up in the client until it
            // reconnects; fail now and let the batch be retried.
            bail!("NATS is {}", self.client.connection_state());
        }
        if !self.stream_ready.load(Ordering::Acquire) {
            self.ensure_stream().await?;
        }
        let mut acks = Vec::with_capacity(events.len());
        for event in events {
            let message = PublishMessage::build()
                .message_id(event.id.to_string())
                .expected_stream(&self.settings.name)
                .payload(event.payload()?.into());
            let ack = self
                .jetstream
                .send_publish(event.subject(&self.settings.subject_prefix), message)
                .await
                .context("cannot send to NATS")?;
            acks.push(ack);
        }
        for ack in acks {
            if let Err(error) = ack.await {
                if error.kind() == PublishErrorKind::StreamNotFound {
                    self.stream_ready.store(false, Ordering::Release);
                }
                return Err(error).context("NATS did not acknowledge");
            }
        }
        Ok(())
    }

    /// Sends whatever the client still buffers (e.g. on shutdown).
    pub async fn flush(&self) {
        let _ = self.client.flush().await;
    }
}
