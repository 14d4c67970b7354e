//! docker-compose.yml's `load` profile runs the real `pulsecheck` binary: the argv Compose
//! builds from its entrypoint, its command and appended options is accepted.

#[path = "../../tests/support/stack.rs"]
#[allow(dead_code)]
mod stack;
#[path = "../../tests/support/mod.rs"]
mod support;

use serde_norway::Value;
use stack::{run, yaml};
use support::academy::Academy;

fn strings(v: &Value) -> Vec<String> {
    v.as_sequence()
        .unwrap_or_else(|| panic!("not a list: {v:?}"))
        .iter()
        .map(|x| x.as_str().expect("a string").to_owned())
        .collect()
}

/// `docker compose run --rm load ARGS` replaces `command` with ARGS and keeps `entrypoint`:
/// the README's "append your own arguments" works only if the subcommand and target are in
/// the entrypoint. Runs the real binary with the argv Compose would build (the target host
/// pointed at a real academy) and the default argv's shape.
#[test]
fn the_load_profile_takes_appended_options() {
    let doc = yaml("docker-compose.yml");
    let load = &doc["services"]["load"];
    let entrypoint = strings(&load["entrypoint"]);
    let command = strings(&load["command"]);
    assert_eq!(
        entrypoint.get(..2),
        Some(&["pulsecheck".to_owned(), "load".to_owned()][..]),
        "the entrypoint runs `pulsecheck load`: {entrypoint:?}"
    );
    let target = entrypoint
        .iter()
        .find(|a| a.starts_with("http://"))
        .expect("the target URL is in the entrypoint, so appended arguments keep it");
    assert!(
        command.iter().all(|a| !a.starts_with("http")),
        "{command:?}"
    );
    for (flag, value) in [("-d", "60s"), ("-c", "8"), ("--rate", "50")] {
        assert!(
            command.windows(2).any(|w| w[0] == flag && w[1] == value),
            "default {flag} {value} missing from {command:?}"
        );
    }

    let academy = Academy::spawn(&[]);
    let base = format!("http://{}", academy.addr);
    let origin = target.split("/api").next().unwrap();
    // What `docker compose --profile load run --rm load -d 1s -c 2 --rate 20` runs.
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_pulsecheck"));
    cmd.env_remove("PULSE_ADMIN_TOKEN")
        .env("NO_COLOR", "1")
        .args(entrypoint[1..].iter().map(|a| a.replace(origin, &base)))
        .args(["-d", "1s", "-c", "2", "--rate", "20"]);
    let (out, text) = run(cmd);
    assert!(out.status.success(), "appended options refused:\n{text}");
    assert!(text.contains("/api/courses"), "{text}");
}
