//! The README is read top to bottom by someone new: its first snippet must be code that
//! compiles (the crate docs' doctest), and its links must lead somewhere.

use std::path::Path;

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The first ```rust block of `text`, line by line.
fn first_rust_block(text: &str) -> Vec<String> {
    text.lines()
        .skip_while(|l| l.trim() != "```rust")
        .skip(1)
        .take_while(|l| l.trim() != "```")
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_first_snippet_is_the_compiled_crate_doctest() {
    let readme = first_rust_block(&read("README.md"));
    // src/lib.rs: the first `no_run` doctest of the crate docs, `//! ` stripped.
    let lib = read("src/lib.rs");
    let doctest: Vec<String> = lib
        .lines()
        .map(|l| {
            l.strip_prefix("//! ")
                .or(l.strip_prefix("//!"))
                .unwrap_or(l)
        })
        .skip_while(|l| l.trim() != "```no_run")
        .skip(1)
        .take_while(|l| l.trim() != "```")
        .map(str::to_owned)
        .collect();
    assert!(!readme.is_empty(), "README has no rust snippet");
    assert_eq!(
        readme, doctest,
        "README's first snippet differs from src/lib.rs's doctest"
    );
    let text = readme.join("\n");
    for needed in [".merge(pulse.routes())", "pulse.serve(listener, app)"] {
        assert!(text.contains(needed), "first snippet lacks {needed}");
    }
}

/// GitHub's anchor for a heading: lower case, punctuation but `-` and `_` dropped, spaces to `-`.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

#[test]
fn readme_and_docs_links_lead_somewhere() {
    let mut files = vec!["README.md".to_owned()];
    for entry in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        files.push(format!("docs/{name}"));
    }
    for file in &files {
        let text = read(file);
        let dir = Path::new(file).parent().unwrap();
        let mut rest = text.as_str();
        while let Some(i) = rest.find("](") {
            rest = &rest[i + 2..];
            let end = rest.find(')').unwrap();
            let target = &rest[..end];
            if target.starts_with("http") {
                continue;
            }
            let (path, frag) = target.split_once('#').unwrap_or((target, ""));
            let linked = if path.is_empty() {
                file.clone()
            } else {
                let p = dir.join(path);
                let p = p.to_str().unwrap().replace("docs/../", "");
                assert!(
                    Path::new(env!("CARGO_MANIFEST_DIR")).join(&p).exists(),
                    "{file}: link to missing {p}"
                );
                p
            };
            if !frag.is_empty() && linked.ends_with(".md") {
                let headings: Vec<String> = read(&linked)
                    .lines()
                    .filter(|l| l.starts_with('#') && l.contains("# "))
                    .map(|l| anchor(l.trim_start_matches('#')))
                    .collect();
                assert!(
                    headings.iter().any(|h| h == frag),
                    "{file}: no heading for #{frag} in {linked}"
                );
            }
        }
    }
}

/// Every `pulsecheck.toml` excerpt the README shows (the ```toml blocks but the `Cargo.toml`
/// one) is accepted by the parser the service runs, so copying one cannot stop start-up.
#[test]
fn readme_pulsecheck_toml_excerpts_parse() {
    let readme = read("README.md");
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in readme.lines() {
        match (&mut current, line.trim()) {
            (None, "```toml") => current = Some(Vec::new()),
            (Some(_), "```") => blocks.push(current.take().unwrap().join("\n")),
            (Some(b), _) => b.push(line),
            _ => {}
        }
    }
    let excerpts: Vec<&String> = blocks
        .iter()
        .filter(|b| !b.contains("[dependencies]"))
        .collect();
    assert!(excerpts.len() >= 3, "{blocks:?}");
    for b in excerpts {
        if let Err(e) = pulsecheck::config::PulseConfig::from_toml_str(b) {
            panic!("README excerpt does not parse: {e}\n{b}");
        }
    }
}
