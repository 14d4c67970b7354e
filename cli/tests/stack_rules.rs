//! collector/rules/pulsecheck.rules.yml is what `pulsecheck rules` makes from the stack's
//! collector/pulsecheck.toml: regenerated here, so the committed file cannot go stale.

use std::path::Path;
use std::process::Command;

const REGENERATE: &str = "pulsecheck rules --config collector/pulsecheck.toml --source collector --selector 'job=\"academy-api\"' -o collector/rules/pulsecheck.rules.yml";

#[test]
fn committed_rules_equal_a_fresh_pulsecheck_rules_run() {
    // The repository root: this package is cli/ in the workspace.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root");
    let out = Command::new(env!("CARGO_BIN_EXE_pulsecheck"))
        .current_dir(root)
        .env_remove("PULSE_CONFIG")
        .env("NO_COLOR", "1")
        .args([
            "rules",
            "--config",
            "collector/pulsecheck.toml",
            "--source",
            "collector",
            "--selector",
            "job=\"academy-api\"",
        ])
        .output()
        .expect("run pulsecheck rules");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // PULSE_BUDGET_* overrides would change the output: they must not leak in from the shell.
    for (k, _) in std::env::vars() {
        assert!(
            !k.starts_with("PULSE_BUDGET_"),
            "{k} is set: unset it to compare the rules"
        );
    }
    let fresh = String::from_utf8(out.stdout).unwrap();
    let committed =
        std::fs::read_to_string(root.join("collector/rules/pulsecheck.rules.yml")).unwrap();
    assert!(
        fresh == committed,
        "collector/rules/pulsecheck.rules.yml is stale; regenerate with:\n  {REGENERATE}"
    );
    // The stack's Prometheus selects the collector-exported series by job = service.name.
    assert!(committed.contains("job=\"academy-api\""));
}
