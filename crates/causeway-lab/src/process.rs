//! Detached component processes, tracked by PID file.
//!
//! A component is started through `bash -c '… &'` under `setsid`, so it outlives the process that
//! started it (a test binary or `causeway-lab up`) and is reaped by init, never left a zombie; it
//! inherits no descriptor beyond stdin/stdout/stderr (no caller's lock).
//! Its PID file records the PID and the executable; [`stop_all`] signals only processes whose
//! `/proc/<pid>/exe` still is that executable, so a recycled PID is never killed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::{Error, Result};

/// A started component.
#[derive(Clone, Debug)]
pub struct Started {
    /// Component name, e.g. `c1-kube-apiserver`.
    pub name: String,
    /// Its PID.
    pub pid: u32,
    /// Its log file.
    pub log: PathBuf,
}

/// Starts `bin args…` detached, logging to `log`, and records it in `pid_dir/<name>.pid`.
pub fn spawn(
    name: &str,
    bin: &Path,
    args: &[String],
    log: &Path,
    pid_dir: &Path,
) -> Result<Started> {
    spawn_in(name, None, bin, args, log, pid_dir)
}

/// Like [`spawn`], but inside network namespace `netns` (`ip netns exec`).
pub fn spawn_in(
    name: &str,
    netns: Option<&str>,
    bin: &Path,
    args: &[String],
    log: &Path,
    pid_dir: &Path,
) -> Result<Started> {
    let prefix: Vec<String> = match netns {
        Some(ns) => ["ip", "netns", "exec", ns].map(String::from).to_vec(),
        None => Vec::new(),
    };
    spawn_wrapped(name, &prefix, bin, args, log, pid_dir)
}

/// Like [`spawn`], with `prefix` (commands that exec their arguments, e.g. `ip netns exec <ns>
/// setpriv …`) before `bin`; the recorded executable is `bin`, which the wrappers end up running.
pub fn spawn_wrapped(
    name: &str,
    prefix: &[String],
    bin: &Path,
    args: &[String],
    log: &Path,
    pid_dir: &Path,
) -> Result<Started> {
    std::fs::create_dir_all(pid_dir).map_err(Error::io("failed to create", pid_dir))?;
    // `/proc/<pid>/exe` is the resolved path: record the same, so liveness checks match.
    let resolved = std::fs::canonicalize(bin).unwrap_or_else(|_| bin.to_owned());
    let bin = resolved.as_path();
    let mut command_line: Vec<String> = prefix.to_vec();
    command_line.push(bin.display().to_string());
    command_line.extend(args.iter().cloned());
    // Descriptors inherited without close-on-exec (e.g. the lock of `flock <lock> cargo test`)
    // are closed first: a component would otherwise hold that lock for the lab's lifetime.
    let script = r#"log="$1"; shift
for fd in /proc/$$/fd/*; do fd="${fd##*/}"; if [ "$fd" -gt 2 ]; then eval "exec $fd>&-"; fi; done
setsid "$@" >"$log" 2>&1 </dev/null & echo $!"#;
    let out = Command::new("bash")
        .arg("-c")
        .arg(script)
        .arg("bash")
        .arg(log)
        .args(&command_line)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(Error::io("failed to run bash to start", bin))?;
    let pid: u32 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|_| Error::Command {
            command: format!("start {name}"),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })?;
    // `$!` is the PID of `setsid` (and `ip netns exec`), which exec the component: wait until the
    // PID runs the component's executable, so liveness checks that follow are meaningful.
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline
        && !alive(pid, bin)
        && std::path::Path::new(&format!("/proc/{pid}")).exists()
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    let pid_file = pid_dir.join(format!("{name}.pid"));
    std::fs::write(&pid_file, format!("{pid}\n{}\n", bin.display()))
        .map_err(Error::io("failed to write", &pid_file))?;
    Ok(Started {
        name: name.to_owned(),
        pid,
        log: log.to_owned(),
    })
}

/// True while `pid` runs `exe` (not a zombie, not a recycled PID).
pub fn alive(pid: u32, exe: &Path) -> bool {
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let Ok(stat) = std::fs::read_to_string(proc_dir.join("stat")) else {
        return false;
    };
    // The state letter follows the parenthesised command name.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    if matches!(state, Some("Z" | "X")) {
        return false;
    }
    std::fs::read_link(proc_dir.join("exe")).is_ok_and(|p| p == exe)
}

/// A PID file: name, PID and executable.
#[derive(Clone, Debug)]
pub struct PidFile {
    /// Component name.
    pub name: String,
    /// Its PID.
    pub pid: u32,
    /// Its executable.
    pub exe: PathBuf,
}

/// Every PID file in `pid_dir`, sorted by name.
pub fn list(pid_dir: &Path) -> Vec<PidFile> {
    let Ok(entries) = std::fs::read_dir(pid_dir) else {
        return Vec::new();
    };
    let mut out: Vec<PidFile> = entries
        .flatten()
        .filter_map(|e| {
            let path = e.path();
            let name = path.file_stem()?.to_str()?.to_owned();
            let text = std::fs::read_to_string(&path).ok()?;
            let mut lines = text.lines();
            let pid = lines.next()?.trim().parse().ok()?;
            let exe = PathBuf::from(lines.next()?.trim());
            Some(PidFile { name, pid, exe })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Stops every recorded process that is still ours: SIGTERM, then SIGKILL after `grace`.
/// Returns the names of the processes that were running.
pub fn stop_all(pid_dir: &Path, grace: Duration) -> Vec<String> {
    stop_where(pid_dir, grace, |_| true)
}

/// Like [`stop_all`], only for recorded processes whose name satisfies `select`.
pub fn stop_where(pid_dir: &Path, grace: Duration, select: impl Fn(&str) -> bool) -> Vec<String> {
    let running: Vec<PidFile> = list(pid_dir)
        .into_iter()
        .filter(|p| select(&p.name) && alive(p.pid, &p.exe))
        .collect();
    for p in &running {
        let _ = kill(Pid::from_raw(pid_i32(p.pid)), Signal::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && running.iter().any(|p| alive(p.pid, &p.exe)) {
        std::thread::sleep(Duration::from_millis(50));
    }
    for p in running.iter().filter(|p| alive(p.pid, &p.exe)) {
        let _ = kill(Pid::from_raw(pid_i32(p.pid)), Signal::SIGKILL);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && running.iter().any(|p| alive(p.pid, &p.exe)) {
        std::thread::sleep(Duration::from_millis(20));
    }
    running.into_iter().map(|p| p.name).collect()
}

/// Stops one recorded process (same rules as [`stop_all`]) and removes its PID file.
pub fn stop_one(pid_dir: &Path, name: &str, grace: Duration) -> bool {
    let Some(p) = list(pid_dir).into_iter().find(|p| p.name == name) else {
        return false;
    };
    let was_alive = alive(p.pid, &p.exe);
    if was_alive {
        let _ = kill(Pid::from_raw(pid_i32(p.pid)), Signal::SIGTERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline && alive(p.pid, &p.exe) {
            std::thread::sleep(Duration::from_millis(20));
        }
        if alive(p.pid, &p.exe) {
            let _ = kill(Pid::from_raw(pid_i32(p.pid)), Signal::SIGKILL);
        }
    }
    let _ = std::fs::remove_file(pid_dir.join(format!("{name}.pid")));
    was_alive
}

/// The last `n` lines of a log file, for error messages.
pub fn tail(log: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn pid_i32(pid: u32) -> i32 {
    i32::try_from(pid).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsRawFd;

    use nix::fcntl::{FcntlArg, FdFlag, fcntl};

    use super::*;

    #[test]
    fn a_component_inherits_no_descriptor_of_its_starter() {
        let dir = std::env::temp_dir().join(format!("cw-lab-spawn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // A descriptor without close-on-exec, as `flock <lock> cargo test` hands down its lock.
        let lock = std::fs::File::create(dir.join("lock")).unwrap();
        fcntl(&lock, FcntlArg::F_SETFD(FdFlag::empty())).unwrap();
        let started = spawn(
            "sleeper",
            Path::new("/bin/sleep"),
            &["30".to_owned()],
            &dir.join("sleeper.log"),
            &dir.join("pids"),
        )
        .unwrap();
        let fds: Vec<PathBuf> = std::fs::read_dir(format!("/proc/{}/fd", started.pid))
            .unwrap()
            .flatten()
            .filter_map(|e| std::fs::read_link(e.path()).ok())
            .collect();
        stop_one(&dir.join("pids"), "sleeper", Duration::from_secs(2));
        assert!(lock.as_raw_fd() > 2);
        assert!(
            !fds.contains(&dir.join("lock")),
            "the component holds its starter's lock: {fds:?}"
        );
        assert_eq!(fds.len(), 3, "only stdin, stdout and stderr: {fds:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
