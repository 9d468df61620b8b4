//! Reading rule sets and their tests from disk, for the pure rules crate, which reads nothing.
//!
//! A rule set is a YAML file, or a folder of them (searched recursively, in path order); a
//! `tests/` folder beside the rules holds their tests and is not part of the set. Paths are
//! kept relative to the rule set's root, so its hash does not depend on where it is checked
//! out.

use std::path::{Path, PathBuf};

use helios_rules::{LoadError, RuleSet, SourceFile};

/// Why a rule set could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum RuleSetError {
    #[error("cannot read rules at {path}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no rule files (*.yaml, *.yml) at {0}")]
    Empty(PathBuf),
    #[error("the rule set at {path} is not valid:\n{}", errors.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        path: PathBuf,
        errors: Vec<LoadError>,
    },
}

fn is_yaml(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("yaml") | Some("yml")
    )
}

fn walk(dir: &Path, skip_tests: bool, out: &mut Vec<PathBuf>) -> Result<(), RuleSetError> {
    let io = |source| RuleSetError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(io)?;
    entries.sort();
    for p in entries {
        if p.is_dir() {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if (skip_tests && name == "tests") || name.starts_with('.') {
                continue;
            }
            walk(&p, skip_tests, out)?;
        } else if is_yaml(&p) {
            out.push(p);
        }
    }
    Ok(())
}

fn read(path: &Path, root: &Path) -> Result<SourceFile, RuleSetError> {
    let text = std::fs::read_to_string(path).map_err(|source| RuleSetError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let rel = path.strip_prefix(root).unwrap_or(path);
    Ok(SourceFile {
        path: rel.to_string_lossy().replace('\\', "/"),
        text,
    })
}

/// The files of the rule set at `path` (a file or a folder), paths relative to it.
pub fn read_rule_files(path: &Path) -> Result<Vec<SourceFile>, RuleSetError> {
    if path.is_file() {
        let root = path.parent().unwrap_or(Path::new(""));
        return Ok(vec![read(path, root)?]);
    }
    let mut files = Vec::new();
    walk(path, true, &mut files)?;
    if files.is_empty() {
        return Err(RuleSetError::Empty(path.to_path_buf()));
    }
    files.iter().map(|f| read(f, path)).collect()
}

/// Loads the rule set at `path`.
pub fn load_rule_set(path: &Path) -> Result<RuleSet, RuleSetError> {
    let files = read_rule_files(path)?;
    RuleSet::load(&files).map_err(|errors| RuleSetError::Invalid {
        path: path.to_path_buf(),
        errors,
    })
}

/// The test files kept beside the rule set at `dir` (`dir/tests/**/*.yaml`).
pub fn read_rule_tests(dir: &Path) -> Result<Vec<SourceFile>, RuleSetError> {
    let tests = dir.join("tests");
    if !tests.is_dir() {
        return Ok(Vec::new());
    }
    let mut files = Vec::new();
    walk(&tests, false, &mut files)?;
    files.iter().map(|f| read(f, dir)).collect()
}

/// The rule set a function decides with: the folder (or file) `HELIOS_RULES` names, which
/// terraform ships as a layer; `rules` when it is not set.
pub fn load_from_env() -> Result<RuleSet, RuleSetError> {
    let path = std::env::var("HELIOS_RULES").unwrap_or_else(|_| "rules".into());
    load_rule_set(path.as_ref())
}
