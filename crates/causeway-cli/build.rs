//! Embeds the git commit the binary is built from as `CAUSEWAY_COMMIT` (`causeway --version`,
//! the images' tag): `$CAUSEWAY_COMMIT` when set (a build outside a git checkout), else
//! `git rev-parse --short=12 HEAD`, else `unknown`. Re-runs when HEAD moves.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn main() {
    println!("cargo:rerun-if-env-changed=CAUSEWAY_COMMIT");
    let commit = std::env::var("CAUSEWAY_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_owned());
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        // HEAD names the branch; logs/HEAD grows with every commit or checkout.
        println!("cargo:rerun-if-changed={dir}/HEAD");
        println!("cargo:rerun-if-changed={dir}/logs/HEAD");
    }
    println!("cargo:rustc-env=CAUSEWAY_COMMIT={commit}");
}
