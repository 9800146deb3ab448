//! dockerhub_exporter: an exact, rate-limited inventory of Docker Hub namespaces, served as
//! Prometheus metrics.
//!
//! A background task walks every repository and tag of the configured namespaces within the
//! Hub's rate limits and publishes an immutable snapshot; the HTTP side serves the snapshot's
//! pre-rendered exposition and never calls the Hub. This file only wires the parts together:
//! it turns the validated [`Config`] into the options each part takes, starts them, and stops
//! them.
//!
//! # Layout
//!
//! Data flows one way, down this list:
//!
//! - [`config`]: command line and environment, validated into a [`Config`]; a leaf.
//! - `hub`: the Docker Hub client: login, pagination, rate limiting, retries.
//! - `inventory`: the snapshot of what the Hub holds, and how a refresh merges into it.
//! - `changes`: what differs between two snapshots, the change counters, and the last 200
//!   changes for people.
//! - `state`: the state file that carries the inventory across restarts.
//! - `refresh`: the background loop, sole writer of the published snapshot, and the re-reads
//!   of single repositories that webhooks and the audit log ask for between refreshes.
//! - `publication`: what the refresh publishes, its rendered exposition, and a scrape's body.
//! - `views`: the published inventory for people: the HTML pages, the changes as JSON, and
//!   the listings of the `inventory` command.
//! - `server`: the HTTP endpoints (the pages among them), their TLS and authentication.
//!
//! Beside the flow: `registry` (the registry's pull quota, checked on its own clock: config →
//! `registry` → `telemetry`), `telemetry` (the exporter's own series, fed by the client, the
//! refresh, the pull-limit checks and the webhook endpoint through their observer traits), [`logging`],
//! [`version`], `shutdown`, `visible` (names shown to people with the characters that would act
//! on a terminal or a page escaped) and [`Error`];
//! [`healthcheck`] is a client of the server, for container health checks; [`command`] is
//! what the binary runs, and its `inventory` subcommand runs one refresh and prints the
//! snapshot through `views`.
//!
//! One signal goes against the flow: a Docker Hub webhook arrives at the server and asks the
//! refresh for a re-read. The server knows only its own `PushReceiver` trait, which this file
//! implements with the refresh's `Rereads` handle, so neither module knows the other.

pub mod command;
pub mod config;
pub mod healthcheck;
pub mod logging;
pub mod version;

mod changes;
mod error;
mod hub;
mod inventory;
mod mirror;
mod publication;
mod refresh;
mod registry;
mod server;
mod shutdown;
mod state;
mod telemetry;
#[cfg(test)]
mod testing;
mod views;
mod visible;

pub use config::{Config, ConfigError};
pub use error::{Error, ErrorKind, Result};
pub use server::Listeners;

use std::future::Future;
use std::sync::Arc;

use tracing::{info, warn};

use crate::inventory::{NameFilter, TagSelection};
use crate::publication::render;
use crate::server::webconfig;
use crate::telemetry::Telemetry;

/// The exporter, configured and checked, not yet running.
pub struct Exporter {
    config: Config,
    web: webconfig::Watched,
}

impl Exporter {
    /// Checks what the configuration names beyond the flags themselves: the web
    /// configuration file and every file it names, and the state file's place. An error here
    /// is the user's to fix, like a bad flag.
    pub fn new(config: Config) -> Result<Exporter, ConfigError> {
        if let Some(path) = &config.state_file {
            state::check(path).map_err(|e| {
                ConfigError::new("--state.file", format!("{}: {e}", path.display()))
            })?;
        }
        let web = match &config.web_config_file {
            Some(path) => webconfig::Watched::load(path)
                .map_err(|e| ConfigError::new("--web.config.file", e.to_string()))?,
            None => webconfig::Watched::open(),
        };
        Ok(Exporter { config, web })
    }

    /// Binds the configured listen addresses (for `:PORT`, every interface: IPv6 and IPv4 if
    /// the system allows both on one socket, else IPv4), or takes over the sockets systemd
    /// passed with `--web.systemd-socket`.
    pub async fn bind(&self) -> Result<Listeners> {
        if self.config.systemd_socket {
            Listeners::from_systemd().map_err(|source| Error::Io {
                context: "taking the sockets systemd passed (--web.systemd-socket)".into(),
                source,
            })
        } else {
            Listeners::bind(&self.config.listen)
                .await
                .map_err(|source| Error::Io {
                    context: "binding --web.listen-address".into(),
                    source,
                })
        }
    }

    /// Runs the exporter on already-bound listeners until `shutdown` completes: the refresh
    /// loop in the background and the HTTP server in front of it.
    pub async fn run(
        self,
        listeners: impl Into<Listeners>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<()> {
        let Exporter { config, web } = self;
        let telemetry = Arc::new(Telemetry::new());
        let client = Arc::new(hub::Client::new(
            client_options(&config.hub),
            telemetry.clone(),
        )?);
        let pull_limit_checker = pull_limit_options(&config)
            .map(|options| registry::Checker::new(options, telemetry.clone()))
            .transpose()?;
        let (refresher, published) =
            refresh::Refresher::new(client, refresh_options(&config), telemetry.clone());
        let webhook = config.signals.webhook_token.as_ref().map(|token| {
            server::Webhook::new(
                token.secret().to_string(),
                Arc::new(Pushes(refresher.rereads())),
                telemetry.clone(),
            )
        });
        let (stop, stopped) = shutdown::channel();
        let mut refresh_task = tokio::spawn(refresher.run(stopped.clone().wait()));
        let mut mirror_tasks = Vec::new();
        for options in mirror_options(&config.mirrors, &config.hub, &config.filters) {
            let checker = mirror::Checker::new(options, telemetry.clone())?;
            mirror_tasks.push(tokio::spawn(
                checker.run(published.clone(), stopped.clone().wait()),
            ));
        }
        let mut pull_limit_task =
            pull_limit_checker.map(|checker| tokio::spawn(checker.run(stopped.clone().wait())));
        let about = server::About {
            namespaces: config.hub.namespaces.clone(),
            repositories: config
                .hub
                .repositories
                .iter()
                .map(|w| format!("{}/{}", w.namespace, w.name))
                .collect(),
            refresh_interval: config.refresh_interval,
            quotas: {
                let telemetry = telemetry.clone();
                Arc::new(move || telemetry.quotas())
            },
            mirrors: {
                let telemetry = telemetry.clone();
                Arc::new(move || telemetry.mirrors())
            },
        };
        let state = server::State {
            published,
            own_series: Arc::new(move || telemetry.own_series()),
            telemetry_path: config.telemetry_path.clone(),
            about,
            in_flight: Arc::new(tokio::sync::Semaphore::new(config.max_requests)),
            web: web.clone(),
            header_read_timeout: server::HEADER_READ_TIMEOUT,
            webhook,
        };
        let web_watch = tokio::spawn(web.watch());
        let listeners = listeners.into();
        let addresses = listeners.local_addrs().map_err(|e| Error::Io {
            context: "reading the listen address".into(),
            source: e,
        })?;
        let mut server_task = tokio::spawn(server::run(listeners, state, stopped.wait()));
        let listed: Vec<String> = addresses.iter().map(ToString::to_string).collect();
        info!(
            address = %listed.first().map_or("", String::as_str),
            addresses = %listed.join(","),
            hub = %config.hub.url,
            namespaces = %config.hub.namespaces.join(","),
            authenticated = config.hub.credentials.is_some(),
            "dockerhub_exporter started"
        );
        warn_if_anonymous(&config.hub);
        let served = tokio::select! {
            _ = shutdown => Ok(()),
            r = &mut server_task => match r {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(Error::Io { context: "serving HTTP".into(), source: e }),
                Err(e) => Err(Error::Io {
                    context: "serving HTTP".into(),
                    source: std::io::Error::other(e.to_string()),
                }),
            },
        };
        info!("shutting down");
        web_watch.abort();
        stop.fire();
        // The refresh stops at once; the server lets open connections finish within the
        // grace, then closes them. A task that outlives its grace is cut off.
        finish_within_grace(&mut refresh_task).await;
        if let Some(task) = &mut pull_limit_task {
            finish_within_grace(task).await;
        }
        for task in &mut mirror_tasks {
            finish_within_grace(task).await;
        }
        if !server_task.is_finished() {
            finish_within_grace(&mut server_task).await;
        }
        served
    }
}

/// Waits for `task` to finish, and cuts it off if it outlives the shutdown grace (the
/// server's own grace for open connections, and a little more).
async fn finish_within_grace<T>(task: &mut tokio::task::JoinHandle<T>) {
    if tokio::time::timeout(shutdown::GRACE * 2, &mut *task)
        .await
        .is_err()
    {
        task.abort();
    }
}

/// Warns when a username came without a secret: the Hub is then read anonymously, and the
/// private repositories the user may expect stay hidden without an error.
fn warn_if_anonymous(hub: &config::Hub) {
    if let (None, Some(username)) = (&hub.credentials, &hub.username) {
        warn!(
            username = %username,
            "no secret given (--hub.password-file or DOCKERHUB_PASSWORD); reading public repositories anonymously"
        );
    }
}

/// Credentials as the clients hold them, the secret wrapped.
fn hub_credentials(c: &config::Credentials) -> hub::Credentials {
    hub::Credentials {
        username: c.username.clone(),
        secret: hub::Secret::new(c.secret()),
    }
}

/// What the Hub client takes from the Hub settings.
fn client_options(hub: &config::Hub) -> hub::ClientOptions {
    hub::ClientOptions {
        base: hub.url.clone(),
        credentials: hub.credentials.as_ref().map(hub_credentials),
        rate_limit: hub.rate_limit,
        burst: hub.burst,
        concurrency: hub.concurrency,
        timeout: hub.timeout,
    }
}

/// What the pull-limit checks take from the configuration; `None` when they are off.
fn pull_limit_options(config: &Config) -> Option<registry::Options> {
    let check = &config.pull_limit;
    Some(registry::Options {
        registry: check.registry_url.clone(),
        auth: check.auth_url.clone(),
        credentials: client_options(&config.hub).credentials,
        interval: check.interval?,
        timeout: config.hub.timeout,
    })
}

/// What each mirror's checks take from the configuration: the mirror, the pace every mirror
/// has, the Hub's time limit and the tracked tags (the exporter's and the `inventory`
/// command's alike).
fn mirror_options(
    mirrors: &config::Mirrors,
    hub: &config::Hub,
    filters: &config::Filters,
) -> Vec<mirror::Options> {
    mirrors
        .mirrors
        .iter()
        .map(|m| mirror::Options {
            label: m.label(),
            hub_namespace: m.hub_namespace.clone(),
            registry: mirror_url(m),
            path: m.path.clone(),
            credentials: m.credentials.as_ref().map(hub_credentials),
            rate_limit: mirrors.rate_limit,
            concurrency: mirrors.concurrency,
            full_interval: mirrors.full_interval,
            timeout: hub.timeout,
            tags: tag_selection(hub, filters),
        })
        .collect()
}

/// `https://REGISTRY/`, or `http://` for an insecure registry.
fn mirror_url(mirror: &config::Mirror) -> reqwest::Url {
    let scheme = if mirror.insecure { "http" } else { "https" };
    // The registry was checked to be HOST[:PORT] when the configuration was built.
    reqwest::Url::parse(&format!("{scheme}://{}/", mirror.registry))
        .expect("a validated registry makes a URL")
}

/// What the refresh loop takes from the configuration: what one read takes, and how often
/// to read, where to keep what was read, and what signals re-reads.
fn refresh_options(config: &Config) -> refresh::Options {
    refresh::Options {
        interval: config.refresh_interval,
        full_interval: config.full_interval,
        state_file: config.state_file.clone(),
        audit_log_interval: config.signals.audit_log_interval,
        repository_min_interval: config.signals.repository_min_interval,
        ..read_options(&config.hub, &config.filters, render_options(config))
    }
}

/// What one read of the Hub takes: what to read and which of it to keep; the rest as a
/// single read, the `inventory` command's, needs it: a full walk, nothing kept across runs,
/// no audit logs.
fn read_options(
    hub: &config::Hub,
    filters: &config::Filters,
    render: render::Options,
) -> refresh::Options {
    refresh::Options {
        namespaces: hub.namespaces.clone(),
        // A repository inside a listed namespace is read with it, once.
        repositories: hub
            .repositories
            .iter()
            .filter(|w| !hub.namespaces.contains(&w.namespace))
            .map(|w| (w.namespace.clone(), w.name.clone()))
            .collect(),
        // A single read has no next one.
        interval: std::time::Duration::MAX,
        full_interval: None,
        repository_filter: repository_filter(filters),
        render,
        state_file: None,
        audit_log_interval: None,
        repository_min_interval: std::time::Duration::ZERO,
    }
}

/// Which repositories `--filter.repository*` lets through.
fn repository_filter(filters: &config::Filters) -> NameFilter {
    NameFilter::new(
        filters.repository.clone(),
        filters.repository_exclude.clone(),
    )
}

/// Which tags are chosen: those `--filter.tag*` lets through and, in a repository named with
/// a pattern of its own (`--hub.repository NS/REPO:RE`), that pattern's.
fn tag_selection(hub: &config::Hub, filters: &config::Filters) -> TagSelection {
    TagSelection::new(
        NameFilter::new(filters.tag.clone(), filters.tag_exclude.clone()),
        hub.repositories.iter().filter_map(|w| {
            let pattern = w.tags.clone()?;
            Some((w.namespace.clone(), w.name.clone(), pattern))
        }),
    )
}

/// Webhooks ask the refresh for re-reads.
struct Pushes(refresh::Rereads);

impl server::PushReceiver for Pushes {
    fn pushed(&self, namespace: &str, repository: &str) -> server::Pushed {
        match self
            .0
            .request(namespace, repository, refresh::Cause::Webhook, Vec::new())
        {
            refresh::Asked::Queued => server::Pushed::Queued,
            refresh::Asked::NotInventoried => server::Pushed::NotInventoried,
            refresh::Asked::QueueFull => server::Pushed::QueueFull,
        }
    }
}

/// What the rendering of the exposition takes from the configuration.
fn render_options(config: &Config) -> render::Options {
    render::Options {
        level: match config.series_level {
            config::SeriesLevel::None => render::SeriesLevel::None,
            config::SeriesLevel::Tags => render::SeriesLevel::Tags,
            config::SeriesLevel::Images => render::SeriesLevel::Images,
        },
        tag_filter: tag_selection(&config.hub, &config.filters),
        max_tags_per_repository: config.max_tags_per_repository,
        watched: config
            .hub
            .repositories
            .iter()
            .map(|w| (w.namespace.clone(), w.name.clone()))
            .collect(),
    }
}
