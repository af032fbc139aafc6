//! The library's layers import in one direction only, from the bytes up to the handlers:
//! config/reason → engine → socket → adapter → facade (see the top of src/lib.rs). This test
//! reads every file of src/ and fails on any `crate::` path that points to a higher layer.

use std::{
    fs,
    path::{Path, PathBuf},
};

/// The layer order, lowest first: a file may name its own layer and the ones below.
const LAYERS: [(&str, &[&str]); 5] = [
    ("shared", &["config", "reason"]),
    ("engine", &["engine"]),
    ("socket", &["socket"]),
    ("adapter", &["adapter"]),
    ("facade", &["io", "server", "admin", "metrics", "lib"]),
];

fn rank_of_module(name: &str) -> Option<usize> {
    LAYERS
        .iter()
        .position(|(_, modules)| modules.contains(&name))
}

/// The layer of a file under src/, by its first path component.
fn rank_of_file(relative: &Path) -> Option<usize> {
    let first = relative.components().next()?.as_os_str().to_str()?;
    rank_of_module(first.trim_end_matches(".rs"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without comments (doc links may name any layer).
fn code_of(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules each `crate::` path names: `crate::a::b` gives `a`, and
/// `crate::{a::x, b}` gives `a` and `b`.
fn named_modules(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // e.g. `actix_socketio_crate::`, not ours
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut item = String::new();
            let mut items = Vec::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 1 => items.push(std::mem::take(&mut item)),
                    _ => {}
                }
                if depth == 0 {
                    break;
                }
                if depth == 1 && c != ',' {
                    item.push(c);
                }
            }
            items.push(item);
            for item in items {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.push(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            found.push(name);
        }
    }
    found
}

#[test]
fn every_import_points_to_the_same_or_a_lower_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut violations = Vec::new();
    let mut checked = 0;
    for file in &files {
        let relative = file.strip_prefix(&src).expect("under src/");
        if relative.starts_with("bin") {
            // The demo is its own crate: it may only use the public API.
            let code = code_of(&fs::read_to_string(file).expect("readable"));
            assert!(
                named_modules(&code).is_empty(),
                "{} reaches into the library with crate:: paths",
                relative.display()
            );
            continue;
        }
        let own = rank_of_file(relative)
            .unwrap_or_else(|| panic!("{} belongs to no layer", relative.display()));
        let code = code_of(&fs::read_to_string(file).expect("readable"));
        for module in named_modules(&code) {
            checked += 1;
            let Some(target) = rank_of_module(&module) else {
                // A root re-export (`crate::SocketIo`) is the facade.
                violations.push(format!(
                    "{} names crate::{module}, which is in no layer (use its module path)",
                    relative.display()
                ));
                continue;
            };
            if target > own {
                violations.push(format!(
                    "{} ({}) imports crate::{module} ({})",
                    relative.display(),
                    LAYERS[own].0,
                    LAYERS[target].0
                ));
            }
        }
    }
    assert!(
        checked > 30,
        "only {checked} crate:: paths found: is src/ there?"
    );
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn the_engine_names_nothing_of_socket_io() {
    // Beyond module paths: no Socket.IO type or concept leaks into the engine's code.
    let engine = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/engine");
    let mut files = Vec::new();
    rust_files(&engine, &mut files);
    for file in files {
        let code = code_of(&fs::read_to_string(&file).expect("readable"));
        for word in [
            "Namespace",
            "namespace",
            "RoomManager",
            "AckError",
            "PendingAck",
        ] {
            assert!(!code.contains(word), "{} mentions {word}", file.display());
        }
    }
}

#[test]
fn the_scanner_reads_groups_and_paths() {
    let code = "use crate::{\n    engine::{packet::Frame, session},\n    reason::X,\n};\nlet a = crate::socket::b();";
    assert_eq!(named_modules(code), ["engine", "reason", "socket"]);
    assert_eq!(named_modules("use crate::config::Config;"), ["config"]);
}
