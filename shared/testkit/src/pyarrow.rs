//! pyarrow (PyPI), the independent reader the Parquet archive is checked with: a script run
//! by `HELIOS_PYTHON` (the test command's virtualenv; `python3` when unset).

use std::path::Path;

/// What `script` prints, run with `arg` as its `sys.argv[1]`. Panics, saying how to install
/// it, when the interpreter or pyarrow is missing or the script fails.
pub fn run(script: &str, arg: &Path) -> String {
    let python = std::env::var("HELIOS_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = std::process::Command::new(&python)
        .args(["-c", script])
        .arg(arg)
        .output()
        .unwrap_or_else(|e| panic!("{python} does not run ({e}): install Python 3 with pyarrow (pip install pyarrow==26.0.1), or set HELIOS_PYTHON"));
    assert!(
        out.status.success(),
        "pyarrow could not read the archive (install it: pip install pyarrow==26.0.1, or set HELIOS_PYTHON to a Python that has it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
