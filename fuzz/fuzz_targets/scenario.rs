//! Fuzzes the scenario loader: the first line is a `--set KEY=VALUE` override, the rest the
//! TOML file. Loading must return a scenario or a typed error, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
    let _ = axon::experiment::scenario::Scenario::from_toml(text);
    let dir = std::env::temp_dir().join(format!("axon-fuzz-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("s.toml");
    if std::fs::write(&path, rest).is_ok() {
        let _ = axon::experiment::scenario::Scenario::load(&path, &[first.to_owned()]);
    }
});
