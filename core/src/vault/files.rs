//! The vault's files on disk: where they live, the atomic keyslot write, and wipe.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::keyslot::{KeyslotFile, MAX_FILE_LEN};
use crate::error::{Error, Result};

/// File names inside a vault directory.
pub(crate) const DB_FILE: &str = "outpost.db";
pub(crate) const KEYS_FILE: &str = "outpost.keys";

/// The files of one vault.
#[derive(Debug, Clone)]
pub(crate) struct VaultPaths {
    pub dir: PathBuf,
    pub db: PathBuf,
    pub keys: PathBuf,
    pub keys_tmp: PathBuf,
}

impl VaultPaths {
    pub(crate) fn new(dir: &Path) -> Self {
        VaultPaths {
            dir: dir.to_path_buf(),
            db: dir.join(DB_FILE),
            keys: dir.join(KEYS_FILE),
            keys_tmp: dir.join(format!("{KEYS_FILE}.tmp")),
        }
    }

    fn db_sidecars(&self) -> [PathBuf; 3] {
        let s = self.db.as_os_str();
        let with = |suffix: &str| {
            let mut p = s.to_os_string();
            p.push(suffix);
            PathBuf::from(p)
        };
        [with("-wal"), with("-shm"), with("-journal")]
    }

    /// Read and decode the keyslot file.
    pub(crate) fn read_keys(&self) -> Result<KeyslotFile> {
        let meta = match fs::metadata(&self.keys) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(if self.db.exists() {
                    Error::corrupt("keyslot file is missing (the database cannot be opened without it)")
                } else {
                    Error::NoVault
                });
            }
            Err(e) => return Err(e.into()),
        };
        if meta.len() > MAX_FILE_LEN as u64 {
            return Err(Error::corrupt("keyslot file: too large"));
        }
        KeyslotFile::decode(&fs::read(&self.keys)?)
    }

    /// Write the keyslot file atomically: temp file (0600), fsync, rename, fsync the directory.
    /// A crash leaves either the old or the new file, never a mix.
    pub(crate) fn write_keys(&self, file: &KeyslotFile) -> Result<()> {
        let bytes = file.encode();
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        {
            let mut f = opts.open(&self.keys_tmp)?;
            let (head, tail) = bytes.split_at(bytes.len() / 2);
            f.write_all(head)?;
            crate::failpoint::failpoint("vault.keyslot.mid_write");
            f.write_all(tail)?;
            f.sync_all()?;
        }
        crate::failpoint::failpoint("vault.keyslot.before_rename");
        fs::rename(&self.keys_tmp, &self.keys)?;
        sync_dir(&self.dir)
    }

    /// Create the directory (0700 on Unix) if needed.
    pub(crate) fn ensure_dir(&self) -> Result<()> {
        if !self.dir.exists() {
            let mut b = fs::DirBuilder::new();
            b.recursive(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt;
                b.mode(0o700);
            }
            b.create(&self.dir)?;
        }
        Ok(())
    }

    /// Remove the database and its side files (not the keyslot file).
    pub(crate) fn remove_db(&self) -> Result<()> {
        remove_if_exists(&self.db)?;
        for p in self.db_sidecars() {
            remove_if_exists(&p)?;
        }
        Ok(())
    }

    /// Delete everything. The keyslot file goes first: without it the database is unreadable
    /// even if a later step fails (crypto-erase), which matters on flash storage where
    /// overwriting in place is not guaranteed to erase anything.
    pub(crate) fn wipe(&self) -> Result<()> {
        remove_if_exists(&self.keys)?;
        remove_if_exists(&self.keys_tmp)?;
        sync_dir(&self.dir)?;
        self.remove_db()?;
        sync_dir(&self.dir)
    }
}

fn remove_if_exists(p: &Path) -> Result<()> {
    match fs::remove_file(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir)?.sync_all()?;
    Ok(())
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> Result<()> {
    // Directory handles cannot be fsynced portably elsewhere; the rename is still atomic.
    Ok(())
}
