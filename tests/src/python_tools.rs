//! The Python tools tests check Gangway with (the Standard Webhooks reference library,
//! schemathesis), pinned in tests/support/python-requirements.txt. They are installed into the
//! cargo target directory on first use; without them (no python3, pip or PyPI) the tests that
//! need them fail and say why, since skipping would leave what they check unproven.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const SUPPORT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/support");

/// The directory holding the installed tools (under the target directory, next to
/// `target_tmpdir`, a test's `CARGO_TARGET_TMPDIR`), installing them the first time.
pub fn installed(target_tmpdir: &str) -> &'static Path {
    static INSTALLED: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let installed = INSTALLED.get_or_init(|| {
        let target_dir = Path::new(target_tmpdir)
            .parent()
            .ok_or("CARGO_TARGET_TMPDIR has no parent")?;
        let dir = target_dir.join("pyenv");
        let output = Command::new("bash")
            .arg(Path::new(SUPPORT).join("install_python_tools.sh"))
            .arg(&dir)
            .output()
            .map_err(|e| format!("could not run bash to install the tools: {e}"))?;
        if output.status.success() {
            Ok(dir)
        } else {
            Err(String::from_utf8_lossy(&output.stderr).trim().to_owned())
        }
    });
    match installed {
        Ok(dir) => dir,
        Err(why) => panic!(
            "the Python tools the tests use could not be installed (scripts/test.sh installs them \
             too): {why}"
        ),
    }
}

/// `python3 -m <module>` with the installed tools on its path.
pub fn module(target_tmpdir: &str, module: &str) -> Command {
    let mut command = Command::new("python3");
    command
        .args(["-m", module])
        .env("PYTHONPATH", installed(target_tmpdir));
    command
}
