//! One lab operation at a time: `up` and `down` hold an exclusive `flock` on the lock file, so two
//! runs (or parallel test binaries) never start or tear down the same lab concurrently.

use std::fs::File;

use nix::fcntl::{Flock, FlockArg};

use crate::{Error, LabPaths, Result};

/// Held while a lab operation runs; released on drop.
pub struct LabLock {
    _lock: Flock<File>,
}

impl LabLock {
    /// Takes the lock, waiting (and saying so) while another run holds it.
    pub fn acquire(paths: &LabPaths) -> Result<Self> {
        let path = paths.lock_file();
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(Error::io("failed to create", parent))?;
        }
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(Error::io("failed to open lock file", &path))?;
        let file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => return Ok(Self { _lock: lock }),
            Err((file, _)) => {
                eprintln!(
                    "lab: another causeway-lab run holds {}; waiting for it",
                    path.display()
                );
                file
            }
        };
        let lock = Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, errno)| {
            Error::io("failed to lock", &path)(std::io::Error::from(errno))
        })?;
        Ok(Self { _lock: lock })
    }
}
