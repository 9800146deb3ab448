//! `dockerhub_exporter inventory`: the Hub read once, exactly as a refresh of the exporter
//! reads it, printed as a table, JSON or CSV; or, with `--offline`, the exporter's state file
//! printed the same way, without a request to the Hub.
//!
//! The read is the exporter's own (see `refresh::once`): the same client, rate limit, retries
//! and filters, so the command answers "what would the exporter see" and spends the quota a
//! refresh spends. Standard output carries the inventory and nothing else; standard error
//! carries the log (at `warn` by default: what failed, and why), the names of what could not
//! be read, and on a terminal a progress line. The exit code says whether the inventory is
//! whole: 0 when everything was read, 1 when something was not (what was read is printed
//! all the same), 2 for flags to fix (a `--state.file` that is not a regular file among
//! them).
//!
//! With `--mirror`, each mirror is checked once after the read, on what was read, exactly as
//! the exporter's first check does (its own pace, HEAD only), and the listings gain each
//! tag's state on the mirrors of its namespace. A mirror repository that could not be read is
//! named on standard error and makes the exit code 1; its tags are printed without a mirror
//! state, never as missing.

use std::io::{self, IsTerminal as _, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use super::progress::Progress;
use crate::config::{InventoryArgs, InventoryCommand, ListingFormat, PASSWORD_ENV, Source};
use crate::error::ErrorKind;
use crate::inventory::{Snapshot, TagSelection};
use crate::publication::{Published, RefreshResult, render};
use crate::views::{self, listing};
use crate::visible::Visible;
use crate::{
    Error, client_options, hub, logging, mirror, mirror_options, read_options, refresh,
    repository_filter, state, tag_selection, telemetry, warn_if_anonymous,
};

/// Bytes gathered before each write to standard output.
const OUTPUT_BUFFER: usize = 1 << 16;

/// What keeps the command from printing an inventory.
#[derive(Debug, thiserror::Error)]
enum Failure {
    /// The state file cannot be used offline.
    #[error("--state.file {path}: {source}")]
    StateFile {
        /// The file named.
        path: String,
        /// Why it cannot be used.
        source: state::ReadError,
    },
    /// The async runtime did not start.
    #[error("cannot start the runtime: {0}")]
    Runtime(io::Error),
    /// The Hub client could not be built.
    #[error(transparent)]
    Client(Error),
    /// A mirror's client could not be built.
    #[error("mirror {mirror}: {source}")]
    Mirror {
        /// The mirror, `REGISTRY[/PATH]`.
        mirror: String,
        /// Why its client could not be built.
        source: Error,
    },
}

impl Failure {
    /// 2 for a path to fix (a state file that is not a regular file, as the exporter refuses
    /// it at start), 1 for the rest.
    fn exit_code(&self) -> ExitCode {
        match self {
            Failure::StateFile {
                source: state::ReadError::NotRegular(_),
                ..
            } => ExitCode::from(2),
            _ => ExitCode::FAILURE,
        }
    }
}

/// Runs the command; its exit code.
pub(super) fn main(args: InventoryArgs) -> ExitCode {
    let progress = Progress::new(io::stderr().is_terminal());
    logging::init_writing_to(args.log_level, args.log_format, progress.log_writer());
    let command = match InventoryCommand::from_args(args, std::env::var(PASSWORD_ENV).ok()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("dockerhub_exporter inventory: {e}");
            return ExitCode::from(2);
        }
    };
    let selection = tag_selection(&command.hub, &command.filters);
    let read = match &command.source {
        Source::Hub => read(&command, &progress).map(|(published, mirrors)| {
            let complete = published
                .last_refresh
                .is_some_and(|r| r.result == RefreshResult::Success);
            (Arc::clone(&published.snapshot), complete, mirrors)
        }),
        Source::StateFile(path) => offline(&command, path).map(|s| (Arc::new(s), true, Vec::new())),
    };
    let (snapshot, complete, mirrors) = match read {
        Ok(read) => read,
        Err(e) => {
            eprintln!("dockerhub_exporter inventory: {e}");
            return e.exit_code();
        }
    };
    let printed = print(command.format, &snapshot, &selection, &mirrors);
    let mut code = ExitCode::SUCCESS;
    match printed {
        Ok(()) => {}
        // Whoever reads the output stopped reading (`| head`): nothing to tell them.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
        Err(e) => {
            eprintln!("dockerhub_exporter inventory: writing the inventory failed: {e}");
            code = ExitCode::FAILURE;
        }
    }
    if !complete {
        for missing in unread(&command, &snapshot) {
            eprintln!("dockerhub_exporter inventory: {missing}");
        }
        eprintln!(
            "dockerhub_exporter inventory: the inventory is incomplete: not everything could be read (see above)"
        );
        code = ExitCode::FAILURE;
    }
    let unchecked = unchecked(&snapshot, &mirrors);
    for line in &unchecked {
        eprintln!("dockerhub_exporter inventory: {line}");
    }
    if !unchecked.is_empty() {
        eprintln!(
            "dockerhub_exporter inventory: the mirror check is incomplete: the tags of what a mirror could not be read for have no mirror state (see above)"
        );
        code = ExitCode::FAILURE;
    }
    code
}

/// Reads the Hub once, with the progress line drawn meanwhile, then checks each mirror once
/// on what was read; the mirrors' figures in the order they were named.
fn read(
    command: &InventoryCommand,
    progress: &Arc<Progress>,
) -> Result<(Arc<Published>, Vec<views::Mirror>), Failure> {
    warn_if_anonymous(&command.hub);
    let runtime = tokio::runtime::Runtime::new().map_err(Failure::Runtime)?;
    let client = Arc::new(
        hub::Client::new(client_options(&command.hub), Arc::new(())).map_err(Failure::Client)?,
    );
    // The exposition is not printed; only the tag filter, which the refresh also counts
    // changes by, matters here.
    let render = render::Options {
        level: render::SeriesLevel::None,
        tag_filter: tag_selection(&command.hub, &command.filters),
        watched: Vec::new(),
        max_tags_per_repository: None,
    };
    let options = read_options(&command.hub, &command.filters, render);
    let observer: Arc<dyn refresh::Observer> = progress.clone();
    let published = runtime.block_on(async {
        let (refresher, _) = refresh::Refresher::new(Arc::clone(&client), options, observer);
        let drawing = tokio::spawn(Arc::clone(progress).draw(client));
        let published = refresher.read_once().await;
        drawing.abort();
        // Until the task has ended, a draw under way on another thread could still put the
        // line back after it is cleared below.
        let _ = drawing.await;
        published
    });
    progress.clear();
    let mirrors = runtime.block_on(check_mirrors(command, Arc::clone(&published.snapshot)))?;
    Ok((published, mirrors))
}

/// What the mirror checks of the command report: each mirror's figures. (Their failures are
/// logged by the checks, naming the repository and the error.)
#[derive(Default)]
struct Checked {
    figures: Mutex<Vec<Arc<mirror::Figures>>>,
}

impl mirror::Observer for Checked {
    fn watching(&self, _: &str) {}
    fn request(&self, _: &str, _: mirror::Endpoint, _: Option<u16>) {}
    fn check_failed(&self, _: &str, _: ErrorKind) {}
    fn checked(&self, figures: Arc<mirror::Figures>) {
        lock(&self.figures).push(figures);
    }
}

/// The guarded value, even if a thread panicked holding it (what it holds stays whole: each
/// change is a single push).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Checks every mirror once on `snapshot`, all at once, each at its own pace.
async fn check_mirrors(
    command: &InventoryCommand,
    snapshot: Arc<Snapshot>,
) -> Result<Vec<views::Mirror>, Failure> {
    let options = mirror_options(&command.mirrors, &command.hub, &command.filters);
    if options.is_empty() {
        return Ok(Vec::new());
    }
    let checked = Arc::new(Checked::default());
    let mut checks = tokio::task::JoinSet::new();
    for options in options {
        let label = options.label.clone();
        let observer: Arc<dyn mirror::Observer> = checked.clone();
        let mut checker =
            mirror::Checker::new(options, observer).map_err(|source| Failure::Mirror {
                mirror: label,
                source,
            })?;
        let snapshot = Arc::clone(&snapshot);
        checks.spawn(async move { checker.check(&snapshot).await });
    }
    // A check that did not complete reports no figures; `unchecked` then names its
    // repositories.
    while checks.join_next().await.is_some() {}
    let figures = std::mem::take(&mut *lock(&checked.figures));
    // In the order the mirrors were named, as the listings show them.
    let mirrors = command
        .mirrors
        .mirrors
        .iter()
        .map(|m| {
            let label = m.label();
            match figures
                .iter()
                .find(|f| f.mirror == label && f.hub_namespace == m.hub_namespace)
            {
                Some(f) => telemetry::mirror::view(f),
                // Its check did not complete: nothing of it was read.
                None => views::Mirror {
                    mirror: label,
                    hub_namespace: m.hub_namespace.clone(),
                    ..views::Mirror::default()
                },
            }
        })
        .collect();
    Ok(mirrors)
}

/// A sentence for each repository of `snapshot` whose tags are known that a mirror of its
/// namespace could not be read for.
fn unchecked(snapshot: &Snapshot, mirrors: &[views::Mirror]) -> Vec<String> {
    let mut unchecked = Vec::new();
    for m in mirrors {
        let Some(namespace) = snapshot.namespaces.get(&m.hub_namespace) else {
            continue;
        };
        for repository in namespace.repositories.values() {
            if repository.tags.is_some() && !m.repositories.contains(&repository.name) {
                unchecked.push(format!(
                    "mirror {}: {}/{} could not be read there; its tags are printed without a mirror state",
                    m.mirror, m.hub_namespace, repository.name
                ));
            }
        }
    }
    unchecked
}

/// What the state file at `path` holds of what `command` names (all of it when it names no
/// namespace and no repository), through its repository filter. The file is only read.
fn offline(command: &InventoryCommand, path: &Path) -> Result<Snapshot, Failure> {
    let mut snapshot = state::read(path)
        .map_err(|source| Failure::StateFile {
            path: path.display().to_string(),
            source,
        })?
        .snapshot;
    let hub = &command.hub;
    if !hub.namespaces.is_empty() || !hub.repositories.is_empty() {
        let named: Vec<(String, String)> = hub
            .repositories
            .iter()
            .map(|w| (w.namespace.clone(), w.name.clone()))
            .collect();
        snapshot.retain_configured(&hub.namespaces, &named);
    }
    // As online: the filter chooses among a listed namespace's repositories; a repository
    // named on its own in a namespace not listed is read whatever the filter says.
    let named_only = |ns: &str| {
        !hub.namespaces.iter().any(|n| n == ns)
            && hub.repositories.iter().any(|w| w.namespace == ns)
    };
    let filter = repository_filter(&command.filters);
    for (name, namespace) in snapshot.namespaces.iter_mut() {
        if !named_only(name) {
            namespace
                .repositories
                .retain(|name, _| filter.matches(name));
        }
    }
    Ok(snapshot)
}

/// Prints the inventory on standard output in `format`, with each tag's state on `mirrors`.
fn print(
    format: ListingFormat,
    snapshot: &Snapshot,
    selection: &TagSelection,
    mirrors: &[views::Mirror],
) -> io::Result<()> {
    let mut out = io::BufWriter::with_capacity(OUTPUT_BUFFER, io::stdout().lock());
    match format {
        ListingFormat::Table => listing::table(snapshot, selection, mirrors, &mut out)?,
        ListingFormat::Json => listing::json(snapshot, selection, mirrors, &mut out)?,
        ListingFormat::Csv => listing::csv(snapshot, selection, mirrors, &mut out)?,
    }
    out.flush()
}

/// What `command` asked for that a read left out of `snapshot`, one sentence each: namespaces
/// that could not be listed, repositories named on their own that could not be read, and
/// repositories whose tags could not be listed. (A repository the listing of its namespace
/// could not describe is not named here; the log names its namespace.)
fn unread(command: &InventoryCommand, snapshot: &Snapshot) -> Vec<String> {
    let hub = &command.hub;
    let mut unread = Vec::new();
    for namespace in &hub.namespaces {
        if !snapshot.namespaces.contains_key(namespace) {
            unread.push(format!(
                "{}: its repositories could not be listed",
                Visible(namespace)
            ));
        }
    }
    for watched in &hub.repositories {
        let listed = hub.namespaces.contains(&watched.namespace);
        let found = snapshot
            .namespaces
            .get(&watched.namespace)
            .is_some_and(|ns| ns.repositories.contains_key(&watched.name));
        if !listed && !found {
            unread.push(format!(
                "{}/{}: the repository could not be read",
                Visible(&watched.namespace),
                Visible(&watched.name)
            ));
        }
    }
    for (namespace, repository) in snapshot.repositories() {
        if repository.tags.is_none() {
            unread.push(format!(
                "{}/{}: its tags could not be listed; it is printed without them",
                Visible(namespace),
                Visible(&repository.name)
            ));
        }
    }
    unread
}
