//! Runs a [`ZhiantecModule`] on the master side of a real pseudo-terminal (so the host opens
//! the slave path with the real serial code, termios and all) or over any `Read + Write`.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags};
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};

use super::module::{ModuleControl, ZhiantecModule};

/// How often the runner looks at its stop and unplug flags.
const TICK_MS: i32 = 10;

/// An emulated module behind a pty; the host opens [`PtyModule::path`].
pub struct PtyModule {
    path: PathBuf,
    control: ModuleControl,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl PtyModule {
    /// Opens a pty pair and serves `module` on its master side from a thread.
    pub fn spawn(module: ZhiantecModule) -> io::Result<PtyModule> {
        let pty = nix::pty::openpty(None, None).map_err(io::Error::from)?;
        // SAFETY: openpty returned two fresh descriptors that nothing else owns.
        let (master, slave) = unsafe {
            (
                OwnedFd::from_raw_fd(pty.master),
                OwnedFd::from_raw_fd(pty.slave),
            )
        };
        // Raw from the start, so nothing is echoed or translated before the host configures
        // the port.
        let mut termios = tcgetattr(slave.as_raw_fd()).map_err(io::Error::from)?;
        cfmakeraw(&mut termios);
        tcsetattr(slave.as_raw_fd(), SetArg::TCSANOW, &termios).map_err(io::Error::from)?;
        let path = nix::unistd::ttyname(slave.as_raw_fd()).map_err(io::Error::from)?;
        let control = module.control();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("zhiantec-pty".into())
            .spawn({
                let stop = stop.clone();
                // The slave stays open here too, so the master keeps working while the host has
                // the port closed (between a close and the next open).
                move || serve_master(module, master, slave, &stop)
            })?;
        Ok(PtyModule {
            path,
            control,
            stop,
            thread: Some(thread),
        })
    }

    /// The slave side's path, e.g. `/dev/pts/3`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn control(&self) -> &ModuleControl {
        &self.control
    }

    /// Stops the runner and closes the pty.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for PtyModule {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn serve_master(mut module: ZhiantecModule, master: OwnedFd, _slave: OwnedFd, stop: &AtomicBool) {
    let control = module.control();
    let fd = master.as_raw_fd();
    let mut buf = [0u8; 1024];
    let gone = || stop.load(Ordering::SeqCst) || control.is_unplugged();
    while !gone() {
        let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
        match poll(&mut fds, TICK_MS) {
            Ok(0) | Err(Errno::EINTR) => continue,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "zhiantec emulator: poll failed");
                return;
            }
        }
        let n = match nix::unistd::read(fd, &mut buf) {
            Ok(n) => n,
            Err(Errno::EINTR | Errno::EAGAIN) => continue,
            // EIO: no slave open at the moment; wait for the host to open it.
            Err(Errno::EIO) => {
                std::thread::sleep(Duration::from_millis(TICK_MS as u64));
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "zhiantec emulator: read failed");
                return;
            }
        };
        let reply = module.receive(&buf[..n], line_baud(fd));
        if write_all_until(fd, &reply, &gone).is_err() {
            return;
        }
    }
    // Dropping `master` (and our slave) hangs up the host's side.
}

/// Writes `data`, giving up when `gone` says so (a host that stopped reading must not wedge
/// the runner on a full pty buffer).
fn write_all_until(fd: RawFd, mut data: &[u8], gone: &dyn Fn() -> bool) -> Result<(), Errno> {
    while !data.is_empty() {
        if gone() {
            return Ok(());
        }
        let mut fds = [PollFd::new(fd, PollFlags::POLLOUT)];
        match poll(&mut fds, TICK_MS) {
            Ok(0) | Err(Errno::EINTR) => continue,
            Ok(_) => {}
            Err(e) => return Err(e),
        }
        match nix::unistd::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(Errno::EINTR | Errno::EAGAIN) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The rate the host set on the slave: on Linux the master's TCGETS2 reports the slave's
/// termios, including non-standard rates set through BOTHER.
#[cfg(target_os = "linux")]
fn line_baud(master: RawFd) -> Option<u32> {
    use nix::libc;
    // SAFETY: termios2 is plain data; TCGETS2 fills it from the tty.
    let mut t: libc::termios2 = unsafe { std::mem::zeroed() };
    // SAFETY: `master` is an open tty descriptor and `t` a valid termios2 to write into.
    let rc = unsafe { libc::ioctl(master, libc::TCGETS2 as _, &mut t) };
    (rc == 0).then_some(t.c_ospeed)
}

#[cfg(not(target_os = "linux"))]
fn line_baud(_master: RawFd) -> Option<u32> {
    None
}

/// Serves `module` over a byte stream until the stream ends or the module is unplugged.
pub fn serve<S: Read + Write>(module: &mut ZhiantecModule, mut stream: S) -> io::Result<()> {
    let control = module.control();
    let mut buf = [0u8; 1024];
    while !control.is_unplugged() {
        let n = match stream.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let reply = module.receive(&buf[..n], None);
        stream.write_all(&reply)?;
        stream.flush()?;
    }
    Ok(())
}
