//! The live view as a user meets it: `axon run --live` on a PC run and a CUBA run, the page's
//! figures changing while the run runs and equal to results.json at the end (read from the
//! JSON the page polls and, where Chromium is installed, from the page itself rendered in
//! headless Chromium); the token (401 without it), `axon view` of a finished folder, and no
//! file outside the folder.
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A started `axon` whose live view listens at `base` with `token`.
struct Served {
    child: Child,
    base: String,
    token: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `axon ARGS` and reads the address it prints (`prefix` then the URL) from stderr.
fn start(args: &[&str], prefix: &str) -> Served {
    let mut child = common::command(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("axon starts");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("axon prints the address")
            .expect("utf-8");
        if let Some(url) = line.strip_prefix(prefix) {
            break url.trim().to_owned();
        }
    };
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    let (base, token) = url.split_once("/?token=").expect("an address with a token");
    assert!(base.starts_with("http://127.0.0.1:"), "{url}");
    Served {
        child,
        base: base.to_owned(),
        token: token.to_owned(),
    }
}

/// `GET path` on `base`: (status, body).
fn get(base: &str, path: &str) -> (u16, Vec<u8>) {
    let host = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(host).expect("the server listens");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("a response");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("headers end");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status");
    (status, raw[split + 4..].to_vec())
}

impl Served {
    fn state(&self) -> Value {
        let (status, body) = get(&self.base, &format!("/api/state?token={}", self.token));
        assert_eq!(status, 200);
        serde_json::from_slice(&body).expect("JSON")
    }

    /// Polls in a thread of its own until `done` holds for a state (at most `secs`): every
    /// state seen, once joined.
    fn watch(&self, secs: u64, done: fn(&[Value]) -> bool) -> std::thread::JoinHandle<Vec<Value>> {
        let (base, token) = (self.base.clone(), self.token.clone());
        std::thread::spawn(move || {
            let end = Instant::now() + Duration::from_secs(secs);
            let mut seen = Vec::new();
            while Instant::now() < end {
                let (code, body) = get(&base, &format!("/api/state?token={token}"));
                assert_eq!(code, 200);
                seen.push(serde_json::from_slice(&body).expect("JSON"));
                if done(&seen) {
                    return seen;
                }
                std::thread::sleep(Duration::from_millis(150));
            }
            panic!("not done after {secs} s: {:?}", seen.last());
        })
    }

    /// Ctrl-C (SIGINT) to the run: it stops with exit 130.
    fn interrupt(&mut self) {
        let kill = std::process::Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(kill.success());
        let status = self.child.wait().expect("axon ends");
        assert_eq!(status.code(), Some(130), "{status:?}");
    }

    fn url(&self) -> String {
        format!("{}/?token={}", self.base, self.token)
    }
}

/// The page rendered by headless Chromium (its DOM after the scripts ran), or `None`
/// without Chromium; where `AXON_BROWSER_TESTS` is set (CI installs Chromium), a missing
/// browser is a failure.
fn render(url: &str) -> Option<String> {
    let out = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=1500",
            "--dump-dom",
            url,
        ])
        .output();
    match out {
        Ok(o) if o.status.success() => Some(String::from_utf8_lossy(&o.stdout).into_owned()),
        other => {
            assert!(
                std::env::var_os("AXON_BROWSER_TESTS").is_none(),
                "AXON_BROWSER_TESTS is set but chromium did not run: {other:?}"
            );
            eprintln!("chromium not available: the page is checked through its JSON only");
            None
        }
    }
}

/// The text of the element with `id` in a rendered page.
fn element(dom: &str, id: &str) -> Option<String> {
    let at = dom.find(&format!("id=\"{id}\""))?;
    let start = at + dom[at..].find('>')? + 1;
    let end = start + dom[start..].find('<')?;
    Some(dom[start..end].to_owned())
}

/// Renders the page twice in headless Chromium while the run runs: the first shows it
/// running, and the second shows more updates (nothing without Chromium).
fn rendered_twice_while_running(served: &Served) {
    let Some(first) = render(&served.url()) else {
        return;
    };
    std::thread::sleep(Duration::from_millis(500));
    let Some(second) = render(&served.url()) else {
        return;
    };
    // The first rendering may come before the run has loaded its data ("starting").
    let first_status = element(&first, "status").unwrap_or_default();
    assert!(
        matches!(first_status.as_str(), "starting" | "running"),
        "{first}"
    );
    assert_eq!(
        element(&second, "status").as_deref(),
        Some("running"),
        "{second}"
    );
    let updates = |dom: &str| -> u64 {
        element(dom, "updates")
            .and_then(|u| u.parse().ok())
            .expect("updates")
    };
    assert!(
        updates(&second) > updates(&first),
        "the page did not change: {} then {}",
        updates(&first),
        updates(&second)
    );
}

fn status(s: &Value) -> &str {
    s["status"].as_str().unwrap_or("")
}

/// The run has ended (complete, stopped or failed).
fn ended(seen: &[Value]) -> bool {
    seen.last()
        .is_some_and(|s| !matches!(status(s), "starting" | "running"))
}

/// The simulated time, as the page shows it, has advanced twice.
fn ticks_advanced(seen: &[Value]) -> bool {
    let ticks: Vec<u64> = running(seen, |s| s["progress"]["ticks"].as_u64());
    ticks
        .windows(3)
        .any(|w| w[0] > 0 && w[2] > w[1] && w[1] > w[0])
}

/// The training progress (epoch, batch) as the page shows it has taken three values.
fn training_advanced(seen: &[Value]) -> bool {
    let progress = running(seen, |s| {
        Some((
            s["progress"]["epoch"].as_u64()?,
            s["progress"]["done"].as_u64()?,
        ))
    });
    progress
        .iter()
        .collect::<std::collections::BTreeSet<_>>()
        .len()
        >= 3
}

/// `f` of every state seen while the run was running.
fn running<T>(seen: &[Value], f: impl Fn(&Value) -> Option<T>) -> Vec<T> {
    seen.iter()
        .filter(|s| status(s) == "running")
        .filter_map(f)
        .collect()
}

/// A run long enough never to end by itself within the test is watched: the page shows it
/// running and changing (in the JSON it polls and, rendered twice, in Chromium), then Ctrl-C
/// stops it (exit 130). Whatever the machine's speed, the page is seen while the run runs.
fn watched_while_running(args: &[&str], advanced: fn(&[Value]) -> bool) {
    let mut served = start(args, "live view: ");
    let (status_code, _) = get(&served.base, "/api/state");
    assert_eq!(status_code, 401, "no token, no state");
    let (status_code, _) = get(&served.base, "/?token=wrong");
    assert_eq!(status_code, 401);
    let watching = served.watch(600, advanced);
    rendered_twice_while_running(&served);
    let seen = watching.join().expect("the watcher");
    assert!(advanced(&seen));
    served.interrupt();
}

#[test]
fn a_cuba_run_is_watched_live_and_ends_equal_to_its_results() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let long = tmp.path().join("long");
    watched_while_running(
        &[
            "run",
            "scenarios/cuba.toml",
            "--set",
            "cuba.duration_ms=3600000",
            "--out",
            long.to_str().expect("utf-8"),
            "--live",
        ],
        ticks_advanced,
    );
    let out = tmp.path().join("cuba");
    let out_s = out.to_str().expect("utf-8");
    let args = [
        "run",
        "scenarios/cuba.toml",
        "--set",
        "cuba.duration_ms=2000",
        "--out",
        out_s,
        "--live",
        "--linger",
        "60",
    ];
    let served = start(&args, "live view: ");
    let seen = served.watch(600, ended).join().expect("the watcher");
    let last = seen.last().expect("a state");
    assert_eq!(status(last), "complete", "{last}");
    assert!(!last["raster"].as_array().expect("raster").is_empty());
    let results = common::results(&out);
    let snn = results.snn.as_ref().expect("snn");
    assert_eq!(last["results"]["snn"]["spikes"].as_u64(), Some(snn.spikes));
    let unwatched = tmp.path().join("unwatched");
    let o = common::axon(&[&args[..5], &[unwatched.to_str().expect("utf-8")]].concat());
    assert!(o.status.success(), "{}", common::stderr(&o));
    let plain = common::results(&unwatched).snn.expect("snn").spikes;
    assert_eq!(snn.spikes, plain, "watching changes no spike");
    if let Some(dom) = render(&served.url()) {
        assert_eq!(
            element(&dom, "status").as_deref(),
            Some("complete"),
            "{dom}"
        );
        let spikes = element(&dom, "final-spikes").expect("the page shows the spikes");
        assert_eq!(spikes, snn.spikes.to_string());
    }
    // The run folder's figures are served; nothing outside it is.
    let t = &served.token;
    let (code, png) = get(&served.base, &format!("/files/raster.png?token={t}"));
    assert_eq!((code, &png[..4]), (200, &b"\x89PNG"[..]));
    for bad in [
        "/files/..%2F..%2Fetc%2Fpasswd",
        "/files/%2e%2e%2fcuba%2fresults.json",
        "/files/../cuba/results.json",
        "/files/.hidden.json",
        "/files/scenario.toml/..",
    ] {
        let (code, body) = get(&served.base, &format!("{bad}?token={t}"));
        assert_ne!(code, 200, "{bad}: {}", String::from_utf8_lossy(&body));
    }
}

#[test]
fn a_pc_run_is_watched_live_and_its_accuracy_equals_the_results() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let quickstart = |limit: &'static str, epochs: &'static str, out: &std::path::Path| {
        let out = out.to_str().expect("utf-8").to_owned();
        let mut args: Vec<String> = [
            "run",
            "scenarios/quickstart.toml",
            "--set",
            limit,
            "--set",
            "data.test_limit=500",
            "--set",
            epochs,
            "--set",
            "compare.baseline=\"none\"",
            "--out",
        ]
        .map(str::to_owned)
        .to_vec();
        args.extend([out, "--live".into(), "--linger".into(), "60".into()]);
        args
    };
    let long = quickstart(
        "data.train_limit=60000",
        "train.epochs=1000",
        &tmp.path().join("l"),
    );
    let long: Vec<&str> = long.iter().map(String::as_str).collect();
    watched_while_running(&long, training_advanced);
    let out = tmp.path().join("pc");
    let args = quickstart("data.train_limit=3000", "train.epochs=3", &out);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let served = start(&args, "live view: ");
    let seen = served.watch(900, ended).join().expect("the watcher");
    let last = seen.last().expect("a state");
    assert_eq!(status(last), "complete", "{last}");
    let results = common::results(&out);
    let pc = &results.models["pc"];
    let want = pc.final_.expect("final").test_accuracy;
    assert_eq!(
        last["results"]["models"]["pc"]["final"]["test_accuracy"].as_f64(),
        Some(want)
    );
    let curve = last["curves"]["pc"].as_array().expect("curve");
    assert_eq!(curve.len(), 3);
    assert_eq!(
        curve[2]["test_accuracy"].as_f64(),
        Some(pc.epochs[2].test_accuracy)
    );
    if let Some(dom) = render(&served.url()) {
        assert_eq!(element(&dom, "status").as_deref(), Some("complete"));
        let shown = element(&dom, "final-pc-test_accuracy").expect("the page shows accuracy");
        let shown: f64 = shown.parse().expect("a number");
        assert!(
            (shown - want).abs() < 1e-6,
            "page {shown} vs results {want}"
        );
    }
}

#[test]
fn axon_view_serves_a_finished_folder_behind_its_token() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = tmp.path().join("c");
    let o = common::axon(&[
        "run",
        "scenarios/cuba.toml",
        "--set",
        "cuba.duration_ms=100",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let served = start(
        &["view", out.to_str().expect("utf-8"), "--for", "60"],
        "view: ",
    );
    assert_eq!(get(&served.base, "/").0, 401);
    let s = served.state();
    assert_eq!(status(&s), "complete");
    let on_disk: Value =
        serde_json::from_slice(&std::fs::read(out.join("results.json")).expect("results"))
            .expect("JSON");
    assert_eq!(s["results"], on_disk);
    let (code, body) = get(
        &served.base,
        &format!("/files/results.json?token={}", served.token),
    );
    assert_eq!(code, 200);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).expect("JSON"),
        on_disk
    );
    let files: Vec<&str> = s["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(files.contains(&"raster.png"), "{files:?}");
    // A folder that is not a run: exit 2 naming it.
    let o = common::axon(&["view", tmp.path().to_str().expect("utf-8"), "--for", "1"]);
    assert_eq!(o.status.code(), Some(2), "{}", common::stderr(&o));
    assert!(common::stderr(&o).contains("not a run folder"));
}
