//! Binding the status socket safely: a live socket of another spidd is never taken over, a
//! stale one is replaced, and the socket appears at its path already with its mode and group
//! (bound under a temporary name, set up, then renamed into place). Removed on drop.

use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tokio::net::UnixListener;
use tracing::{info, warn};

#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("the status socket {path} is in use by a running spidd")]
    InUse { path: PathBuf },
    #[error("{path} exists and is not a socket; refusing to replace it (status.socket)")]
    NotASocket { path: PathBuf },
    #[error("cannot create the status socket {path} (status.socket, --status-socket): {source}")]
    Io { path: PathBuf, source: io::Error },
}

/// A bound status socket; the file is removed when this is dropped.
pub struct StatusListener {
    listener: Option<UnixListener>,
    path: PathBuf,
    /// The socket file's identity, so drop removes only our own file.
    inode: (u64, u64),
    /// The group the socket ended up with.
    pub group: String,
}

impl StatusListener {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The listener, to serve; the guard stays for removal at shutdown.
    pub fn take_listener(&mut self) -> Option<UnixListener> {
        self.listener.take()
    }
}

impl Drop for StatusListener {
    fn drop(&mut self) {
        let ours = std::fs::symlink_metadata(&self.path)
            .map(|m| (m.dev(), m.ino()) == self.inode)
            .unwrap_or(false);
        if ours {
            if let Err(e) = std::fs::remove_file(&self.path) {
                warn!(path = %self.path.display(), error = %e, "could not remove the status socket");
            }
        }
    }
}

/// Binds `path` with permission bits `mode` and group `group` (if the group does not exist
/// or cannot be set, the socket keeps the daemon's own group, with a warning). Must run
/// inside a tokio runtime.
pub fn bind(path: &Path, mode: u32, group: &str) -> Result<StatusListener, SocketError> {
    let io_err = |source| SocketError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io_err)?;
    check_previous(path)?;

    // Bound under a private name, so the public path never shows a socket with the wrong
    // mode or group; the rename then replaces a stale socket atomically.
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "status.sock".into());
    let temp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&temp);
    let listener = UnixListener::bind(&temp).map_err(io_err)?;
    let set_up = (|| {
        std::fs::set_permissions(&temp, std::fs::Permissions::from_mode(mode))?;
        let group = apply_group(&temp, group)?;
        std::fs::rename(&temp, path)?;
        Ok::<_, io::Error>(group)
    })();
    let group = match set_up {
        Ok(group) => group,
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            return Err(io_err(e));
        }
    };
    let meta = std::fs::symlink_metadata(path).map_err(io_err)?;
    info!(path = %path.display(), mode = format!("{:04o}", meta.mode() & 0o7777), group = %group, "status socket bound");
    Ok(StatusListener {
        listener: Some(listener),
        path: path.to_path_buf(),
        inode: (meta.dev(), meta.ino()),
        group,
    })
}

/// A previous file at `path`: a live socket is an error, a dead one is left for the rename
/// to replace, anything else is refused.
fn check_previous(path: &Path) -> Result<(), SocketError> {
    use std::os::unix::fs::FileTypeExt;
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(SocketError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    if !meta.file_type().is_socket() {
        return Err(SocketError::NotASocket {
            path: path.to_path_buf(),
        });
    }
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => Err(SocketError::InUse {
            path: path.to_path_buf(),
        }),
        Err(_) => {
            info!(path = %path.display(), "replacing a stale status socket");
            Ok(())
        }
    }
}

/// Gives `path` the group `name`; returns the group it has afterwards.
fn apply_group(path: &Path, name: &str) -> io::Result<String> {
    let own_gid = std::fs::symlink_metadata(path)?.gid();
    let own = group_name(own_gid).unwrap_or_else(|| own_gid.to_string());
    let Some(gid) = group_id(name) else {
        warn!(group = name, fallback = %own, "the status socket's group does not exist; the socket keeps the daemon's own group");
        return Ok(own);
    };
    match std::os::unix::fs::chown(path, None, Some(gid)) {
        Ok(()) => Ok(name.to_string()),
        Err(e) => {
            warn!(group = name, fallback = %own, error = %e, "cannot give the status socket its group; it keeps the daemon's own group");
            Ok(own)
        }
    }
}

/// The local groups (`/etc/group`, where sysusers.d puts `spidd-tech`) as (name, gid).
fn local_groups() -> Vec<(String, u32)> {
    std::fs::read_to_string("/etc/group")
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let gid = fields.nth(1)?.parse().ok()?;
            Some((name.to_string(), gid))
        })
        .collect()
}

pub fn group_id(name: &str) -> Option<u32> {
    local_groups()
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, g)| g)
}

pub fn group_name(gid: u32) -> Option<String> {
    local_groups()
        .into_iter()
        .find(|(_, g)| *g == gid)
        .map(|(n, _)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("spidd-sock-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[tokio::test]
    async fn binds_with_mode_replaces_stale_refuses_live_and_removes_on_drop() {
        let dir = temp_dir();
        let path = dir.join("status.sock");
        // A stale socket: bound, then its listener gone.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let listener = bind(&path, 0o640, "no-such-group-spidd").unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o640);
        // The fallback group is the daemon's own.
        let own = group_name(meta.gid()).unwrap_or_else(|| meta.gid().to_string());
        assert_eq!(listener.group, own);
        // A second bind while the first serves is refused, and leaves the file alone.
        assert!(matches!(
            bind(&path, 0o660, "x"),
            Err(SocketError::InUse { .. })
        ));
        assert!(path.exists());
        drop(listener);
        assert!(!path.exists(), "removed on drop");
        // A regular file is never replaced.
        std::fs::write(&path, b"keep me").unwrap();
        assert!(matches!(
            bind(&path, 0o660, "x"),
            Err(SocketError::NotASocket { .. })
        ));
        assert_eq!(std::fs::read(&path).unwrap(), b"keep me");
        // No temporary names left behind.
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left.len(), 1, "{left:?}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn an_existing_group_is_applied() {
        // The caller's own primary group always exists and may always be set.
        let dir = temp_dir();
        let path = dir.join("s.sock");
        let probe = dir.join("probe");
        std::fs::write(&probe, b"").unwrap();
        let gid = std::fs::metadata(&probe).unwrap().gid();
        if let Some(name) = group_name(gid) {
            let listener = bind(&path, 0o660, &name).unwrap();
            assert_eq!(listener.group, name);
            assert_eq!(std::fs::metadata(&path).unwrap().gid(), gid);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
