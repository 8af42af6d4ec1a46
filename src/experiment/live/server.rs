//! The live view's web server: a page built into the binary, the run's state as JSON, and
//! the run folder's files, read-only, on 127.0.0.1 with an ephemeral port unless told
//! otherwise, and only for a request that carries the run's random token (else 401). It
//! runs on its own small tokio runtime in its own thread, so a slow or stuck browser waits
//! on its own connection and never on the run: the page polls for a fresh snapshot, and
//! nothing is queued per client.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::LiveState;

/// The page (HTML, CSS and the plotting script in one file, no external asset).
const PAGE: &str = include_str!("page.html");

/// How long a stopping server waits for the requests in flight.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// The runtime or thread could not start.
    #[error("cannot start the live view's server: {0}")]
    Start(std::io::Error),
}

/// Where to serve (the files `/files/NAME` serves are the run folder's, once the run has
/// one).
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Address to bind: default 127.0.0.1 with a port the system picks.
    pub addr: SocketAddr,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }
}

/// A running server; dropping it stops it.
pub struct LiveServer {
    /// The page's address, token included.
    pub url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for LiveServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
struct Shared {
    state: Arc<Mutex<LiveState>>,
    token: Arc<str>,
}

impl Shared {
    /// The run folder, once there is one.
    fn dir(&self) -> Option<PathBuf> {
        let st = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        st.dir()
    }
}

/// A random token of 128 bits (from the standard library's per-process random keys).
fn token() -> String {
    use std::hash::{BuildHasher, Hasher};
    let word = || {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        h.write_u32(std::process::id());
        h.finish()
    };
    format!("{:016x}{:016x}", word(), word())
}

/// Starts serving `state` as `opts` say; returns once the socket is bound.
pub fn serve(state: Arc<Mutex<LiveState>>, opts: &ServeOptions) -> Result<LiveServer, ServeError> {
    let token = token();
    let shared = Shared {
        state,
        token: token.clone().into(),
    };
    let app = Router::new()
        .route("/", get(page))
        .route("/api/state", get(api_state))
        .route("/files/{name}", get(file))
        .with_state(shared);
    let std_listener =
        std::net::TcpListener::bind(opts.addr).map_err(|source| ServeError::Bind {
            addr: opts.addr,
            source,
        })?;
    std_listener
        .set_nonblocking(true)
        .map_err(ServeError::Start)?;
    let addr = std_listener.local_addr().map_err(ServeError::Start)?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("axon-live")
        .enable_io()
        .enable_time()
        .build()
        .map_err(ServeError::Start)?;
    let thread = std::thread::Builder::new()
        .name("axon-live-server".into())
        .spawn(move || {
            rt.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(std_listener) else {
                    return;
                };
                let (graceful, shutdown) = tokio::sync::oneshot::channel::<()>();
                let serving = axum::serve(listener, app).with_graceful_shutdown(async move {
                    let _ = shutdown.await;
                });
                let task = tokio::spawn(std::future::IntoFuture::into_future(serving));
                let _ = stopped.await;
                let _ = graceful.send(());
                // Requests in flight get a moment to finish; a client that never reads
                // does not hold the process (its connection is dropped below).
                let _ = tokio::time::timeout(SHUTDOWN_GRACE, task).await;
            });
            // In-flight connections of clients that never read are dropped here.
            rt.shutdown_background();
        })
        .map_err(ServeError::Start)?;
    Ok(LiveServer {
        url: format!("http://{addr}/?token={token}"),
        stop: Some(stop),
        thread: Some(thread),
    })
}

/// The request carries the token.
fn authorised(s: &Shared, q: &HashMap<String, String>) -> bool {
    let given = q.get("token").map_or("", String::as_str).as_bytes();
    let want = s.token.as_bytes();
    // Compared in constant time: the answer does not tell how much of a guess was right.
    given.len() == want.len() && given.iter().zip(want).fold(0u8, |a, (x, y)| a | (x ^ y)) == 0
}

fn unauthorised() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        "401: this page needs the token printed with its address (?token=...)\n",
    )
        .into_response()
}

async fn page(State(s): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    if !authorised(&s, &q) {
        return unauthorised();
    }
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        PAGE,
    )
        .into_response()
}

async fn api_state(State(s): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    if !authorised(&s, &q) {
        return unauthorised();
    }
    let files = s.dir().map(|d| list_files(&d)).unwrap_or_default();
    let body = {
        let st = s
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut v = st.to_json();
        v["files"] = serde_json::json!(files);
        v.to_string()
    };
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// File names `/files/` may serve: plain names (no separator, no leading dot) of the
/// kinds a run folder holds.
pub fn servable(name: &str) -> bool {
    let ext = name.rsplit_once('.').map_or("", |(_, e)| e);
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.contains("..")
        && matches!(ext, "png" | "json" | "jsonl" | "toml" | "safetensors")
}

/// The servable files directly in `dir`, sorted.
fn list_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| servable(n))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

async fn file(
    State(s): State<Shared>,
    UrlPath(name): UrlPath<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if !authorised(&s, &q) {
        return unauthorised();
    }
    let Some(dir) = s.dir() else {
        return (StatusCode::NOT_FOUND, "no run folder\n").into_response();
    };
    if !servable(&name) {
        return (StatusCode::NOT_FOUND, "no such file in the run folder\n").into_response();
    }
    // Resolved and checked to lie in the folder (a link pointing out is refused too).
    let path = dir.join(&name);
    let inside = match (path.canonicalize(), dir.canonicalize()) {
        (Ok(p), Ok(d)) => p.parent() == Some(d.as_path()),
        _ => false,
    };
    if !inside {
        return (StatusCode::NOT_FOUND, "no such file in the run folder\n").into_response();
    }
    let kind = match name.rsplit_once('.').map(|(_, e)| e) {
        Some("png") => "image/png",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    };
    match std::fs::read(&path) {
        Ok(bytes) => ([(header::CONTENT_TYPE, kind)], bytes).into_response(),
        Err(_) => (StatusCode::NOT_FOUND, "no such file in the run folder\n").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::servable;

    #[test]
    fn only_plain_names_of_run_files_are_servable() {
        for ok in [
            "results.json",
            "accuracy.png",
            "trace.jsonl",
            "probes.safetensors",
        ] {
            assert!(servable(ok), "{ok}");
        }
        for bad in [
            "../results.json",
            "..",
            ".hidden.png",
            "a/b.png",
            "a\\b.png",
            "x..png",
            "/etc/passwd",
            "passwd",
            "",
            "r%2e.json",
        ] {
            assert!(!servable(bad), "{bad}");
        }
    }
}
