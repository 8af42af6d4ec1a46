//! The live view on the command line: `axon run --live` (the flags and the server around a
//! run) and `axon view RUN_DIR` (a finished run's folder, served the same way).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axon::experiment::live::{serve, LiveHub, LiveServer, LiveState, ServeOptions};
use clap::Args;

use super::{bad_input, machine_failure, stop_flag, Failure};

/// The live-view flags of `axon run`.
#[derive(Args, Debug, Clone)]
pub(crate) struct LiveArgs {
    /// Watch the run in a browser: serves a page on 127.0.0.1 (a port the system picks, a
    /// random token in the address) and prints its address.
    #[arg(long)]
    pub(crate) live: bool,
    /// Serve the live view on ADDR (ip:port) instead; an address other than loopback lets
    /// anyone who can reach it and holds the token watch the run (a warning says so).
    #[arg(long, value_name = "ADDR", requires = "live")]
    pub(crate) live_addr: Option<SocketAddr>,
    /// Keep serving the finished run for SECONDS (Ctrl-C ends it sooner). Default 30.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 30.0,
        requires = "live"
    )]
    pub(crate) linger: f64,
}

/// The options of a server at `addr` (loopback with an ephemeral port by default),
/// warning when it is reachable from other machines.
fn options(addr: Option<SocketAddr>) -> ServeOptions {
    let opts = addr.map_or_else(ServeOptions::default, |addr| ServeOptions { addr });
    if !opts.addr.ip().is_loopback() {
        eprintln!(
            "warning: serving on {}: anyone who can reach this address and holds the token \
             can watch the run (the view is read-only)",
            opts.addr
        );
    }
    opts
}

/// A live view started for a run: its hub and server.
pub(crate) struct Live {
    pub(crate) hub: LiveHub,
    server: LiveServer,
}

impl Live {
    /// Starts the hub and the server and prints the address.
    pub(crate) fn start(args: &LiveArgs) -> Result<Self, Failure> {
        let hub = LiveHub::start();
        let server = serve(hub.state(), &options(args.live_addr))
            .context("--live")
            .map_err(bad_input)?;
        eprintln!("live view: {}", server.url);
        Ok(Live { hub, server })
    }

    /// Serves the finished run for `linger` seconds (or until Ctrl-C), then stops.
    pub(crate) fn linger(self, linger: f64, stop: &AtomicBool) {
        if linger > 0.0 {
            eprintln!(
                "live view: serving the finished run for {linger} s more at {} (axon view \
                 RUN_DIR serves it again)",
                self.server.url
            );
            wait(Duration::from_secs_f64(linger), stop);
        }
    }
}

/// Sleeps `d`, or until `stop` is set.
fn wait(d: Duration, stop: &AtomicBool) {
    let end = Instant::now() + d;
    while Instant::now() < end && !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[derive(Args, Debug)]
pub(crate) struct ViewArgs {
    /// A run folder (it holds results.json).
    dir: PathBuf,
    /// Serve on ADDR (ip:port) instead of 127.0.0.1 with a port the system picks.
    #[arg(long, value_name = "ADDR")]
    addr: Option<SocketAddr>,
    /// Stop after SECONDS (default: at Ctrl-C).
    #[arg(long, value_name = "SECONDS")]
    r#for: Option<f64>,
}

/// `axon view RUN_DIR`: serves a finished run's folder until Ctrl-C.
pub(crate) fn view(args: ViewArgs) -> Result<(), Failure> {
    let path = args.dir.join("results.json");
    let text = std::fs::read_to_string(&path)
        .with_context(|| {
            format!(
                "{}: not a run folder (no readable results.json)",
                args.dir.display()
            )
        })
        .map_err(bad_input)?;
    let results: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: not valid JSON", path.display()))
        .map_err(bad_input)?;
    let name = results["name"].as_str().unwrap_or("run").to_owned();
    let state = Arc::new(Mutex::new(LiveState::finished(&name, &args.dir, results)));
    let server = serve(state, &options(args.addr))
        .context("axon view")
        .map_err(machine_failure)?;
    eprintln!("view: {}", server.url);
    let stop = stop_flag();
    wait(
        args.r#for
            .map_or(Duration::MAX / 4, Duration::from_secs_f64),
        &stop,
    );
    drop(server);
    Ok(())
}
