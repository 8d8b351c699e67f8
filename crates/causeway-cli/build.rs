//! Embeds the git commit the binary is built from as `CAUSEWAY_COMMIT` (`causeway --version`,
//! the images' tag): `$CAUSEWAY_COMMIT` when set (a build outside a git checkout), else
//! `git rev-parse --short=12 HEAD`, else `unknown`; and that commit's date (UTC, RFC 3339) as
//! `CAUSEWAY_COMMIT_DATE` (`causeway version`): `$CAUSEWAY_COMMIT_DATE` when set, else git's,
//! else `unknown`. The commit date, not the build time, so a rebuild of one commit is identical.
//! Re-runs when HEAD moves.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    // TZ=UTC: `--date=format-local` prints the commit date in UTC.
    let out = Command::new("git")
        .args(args)
        .env("TZ", "UTC")
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn main() {
    println!("cargo:rerun-if-env-changed=CAUSEWAY_COMMIT");
    println!("cargo:rerun-if-env-changed=CAUSEWAY_COMMIT_DATE");
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
    let date = std::env::var("CAUSEWAY_COMMIT_DATE")
        .ok()
        .filter(|d| !d.is_empty())
        .or_else(|| {
            git(&[
                "log",
                "-1",
                "--format=%cd",
                "--date=format-local:%Y-%m-%dT%H:%M:%SZ",
            ])
        })
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=CAUSEWAY_COMMIT_DATE={date}");
}
