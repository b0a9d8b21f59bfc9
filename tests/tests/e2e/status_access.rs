//! Who may open the status socket: its configured mode and group, the friendly errors of
//! `spidctl` when spidd is not running or the user lacks access, and a live socket that a
//! second station must not take over.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::station::*;
use crate::status::spidctl_async;

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// (uid, gid, group name) of `nobody`, when the system has it.
fn nobody() -> Option<(u32, u32, String)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    let fields: Vec<&str> = passwd
        .lines()
        .find(|l| l.starts_with("nobody:"))?
        .split(':')
        .collect();
    let (uid, gid) = (fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?);
    let groups = std::fs::read_to_string("/etc/group").ok()?;
    let group = groups.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.get(2)?.parse::<u32>().ok()? == gid).then(|| f[0].to_string())
    })?;
    Some((uid, gid, group))
}

/// spidctl as another user, from a copy anyone may run.
fn spidctl_as(uid: u32, gid: u32, bin: &Path, socket: &Path) -> Output {
    use std::os::unix::process::CommandExt;
    Command::new(bin)
        .arg("--socket")
        .arg(socket)
        .arg("status")
        // As root, std drops the supplementary groups when it sets the uid.
        .uid(uid)
        .gid(gid)
        .output()
        .expect("spidctl runs as another user")
}

/// Opens the test's own directories on the way to `socket` (the data directory and the
/// temporary directory holding it) to everyone; never the system's temporary directory.
fn open_path_to(socket: &Path) {
    let system_temp = std::env::temp_dir();
    for dir in socket.ancestors().skip(1).take(2) {
        assert!(
            dir.starts_with(&system_temp) && dir != system_temp,
            "{}",
            dir.display()
        );
        open_to_all(dir);
    }
}

fn open_to_all(dir: &Path) {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_mode_group_and_who_may_use_it() {
    // No daemon: the friendly "is spidd running?".
    let dir = tempfile::tempdir().unwrap();
    let missing = spidctl_async(&dir.path().join("none.sock"), &["status"]).await;
    assert_eq!(missing.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&missing.stderr)
        .contains("is spidd running? systemctl status spidd"));

    let root = is_root();
    let nobody = nobody().filter(|_| root);
    let group = nobody
        .as_ref()
        .map_or("spidd-tech-absent".to_string(), |n| n.2.clone());
    let s = Station::start_with(&format!("[status]\nmode = \"0660\"\ngroup = \"{group}\"\n")).await;
    let socket = s.status_socket();
    let meta = std::fs::metadata(&socket).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o660, "configured mode");
    // Traversable, so that only the socket's own mode and group decide.
    open_path_to(&socket);
    let bin_dir = tempfile::tempdir().unwrap();
    open_to_all(bin_dir.path());
    let bin: PathBuf = bin_dir.path().join("spidctl");
    std::fs::copy(workspace_binary("spidctl"), &bin).unwrap();

    match &nobody {
        Some((uid, gid, _)) => {
            // Root bypasses file modes, so the checks run as `nobody`. Its group owns this
            // socket: it gets in.
            assert_eq!(meta.gid(), *gid, "configured group");
            let (uid, gid, b, sock) = (*uid, *gid, bin.clone(), socket.clone());
            let allowed = tokio::task::spawn_blocking(move || spidctl_as(uid, gid, &b, &sock))
                .await
                .unwrap();
            assert!(
                allowed.status.success(),
                "{}",
                String::from_utf8_lossy(&allowed.stderr)
            );
            // A socket of root's group, 0660: `nobody` is out, and told what to do.
            let other = Station::start_with("[status]\ngroup = \"spidd-tech-absent\"\n").await;
            let other_socket = other.status_socket();
            let other_meta = std::fs::metadata(&other_socket).unwrap();
            assert_eq!(other_meta.mode() & 0o777, 0o660);
            assert_ne!(
                other_meta.gid(),
                gid,
                "an absent group falls back to the daemon's own"
            );
            open_path_to(&other_socket);
            let (b, sock) = (bin.clone(), other_socket.clone());
            let denied = tokio::task::spawn_blocking(move || spidctl_as(uid, gid, &b, &sock))
                .await
                .unwrap();
            assert_eq!(
                denied.status.code(),
                Some(4),
                "{}",
                String::from_utf8_lossy(&denied.stderr)
            );
            let said = String::from_utf8_lossy(&denied.stderr);
            assert!(said.contains("add yourself to group spidd-tech"), "{said}");
            // The socket is not of spidd-tech here, and spidctl says which group it is of.
            assert!(said.contains("this socket's group is "), "{said}");
            other.stop().await;
        }
        None if root => {
            eprintln!("no `nobody` user on this machine: access as another user not checked");
        }
        None => {
            // Not root: the daemon's user owns the socket, so take the access away by mode.
            std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o000)).unwrap();
            let denied = spidctl_async(&socket, &["status"]).await;
            assert_eq!(
                denied.status.code(),
                Some(4),
                "{}",
                String::from_utf8_lossy(&denied.stderr)
            );
            assert!(String::from_utf8_lossy(&denied.stderr)
                .contains("add yourself to group spidd-tech"));
            std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o660)).unwrap();
        }
    }

    // A second station on the same socket path is refused while the first serves.
    let data = tempfile::tempdir().unwrap();
    let clash = daemon::app::start(daemon::app::Options {
        simulate: true,
        listen: Some("127.0.0.1:0".parse().unwrap()),
        sim_control: Some("127.0.0.1:0".parse().unwrap()),
        data_dir: Some(data.path().join("data")),
        status_socket: Some(socket.clone()),
        ..Default::default()
    })
    .await;
    let Err(e) = clash else {
        panic!("a second station took over a live socket")
    };
    assert!(e.to_string().contains("in use by a running spidd"), "{e}");
    assert!(socket.exists());
    s.stop().await;
    assert!(!socket.exists());
}
