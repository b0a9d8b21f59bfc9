//! [`SerialTransport`] over an OS serial port through the `serialport` crate (the only file
//! that names it; built without libudev).

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serialport::{ClearBuffer, DataBits, FlowControl, Parity, SerialPort, StopBits};

use super::{SerialError, SerialTransport};

/// Writes get this long per byte at the slowest supported rate (9600 baud ≈ 1 ms per byte),
/// plus a fixed margin, before the port is declared stuck.
const WRITE_MARGIN: Duration = Duration::from_secs(1);

/// An open serial port, 8N1, no flow control.
pub struct SystemPort {
    path: PathBuf,
    port: Box<dyn SerialPort>,
    baud: u32,
}

impl SystemPort {
    /// Opens `path` at `baud`. A missing device is [`SerialError::Disconnected`].
    pub fn open(path: &Path, baud: u32) -> Result<SystemPort, SerialError> {
        let name = path.to_string_lossy();
        let port = serialport::new(name.as_ref(), baud)
            .data_bits(DataBits::Eight)
            .parity(Parity::None)
            .stop_bits(StopBits::One)
            .flow_control(FlowControl::None)
            .timeout(WRITE_MARGIN)
            .open()
            .map_err(|e| open_error(path, e))?;
        Ok(SystemPort {
            path: path.to_owned(),
            port,
            baud,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io_error(&self, e: io::Error) -> SerialError {
        let what = format!("{}: {e}", self.path.display());
        if is_disconnect(&e) {
            SerialError::Disconnected(what)
        } else if e.kind() == io::ErrorKind::TimedOut {
            SerialError::Timeout
        } else {
            SerialError::Io(what)
        }
    }
}

fn open_error(path: &Path, e: serialport::Error) -> SerialError {
    let what = format!("{}: {}", path.display(), e.description);
    match e.kind {
        // serialport reports a port locked by another process (EBUSY) as NoDevice too.
        serialport::ErrorKind::NoDevice if e.description.contains("busy") => {
            SerialError::Io(format!("{what} (in use by another process)"))
        }
        serialport::ErrorKind::NoDevice => SerialError::Disconnected(what),
        serialport::ErrorKind::Io(io::ErrorKind::NotFound) => SerialError::Disconnected(what),
        _ => SerialError::Io(what),
    }
}

/// Errors that mean the device went away: a hung-up tty (EIO, POLLHUP), a vanished USB
/// bridge (ENXIO, ENODEV), end of stream.
fn is_disconnect(e: &io::Error) -> bool {
    const EIO: i32 = 5;
    const ENXIO: i32 = 6;
    const ENODEV: i32 = 19;
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe
            | io::ErrorKind::NotConnected
            | io::ErrorKind::UnexpectedEof
            | io::ErrorKind::NotFound
    ) || matches!(e.raw_os_error(), Some(EIO | ENXIO | ENODEV))
        // serialport reports POLLERR/POLLNVAL as a synthetic "EIO" error of kind Other.
        || (e.kind() == io::ErrorKind::Other && e.raw_os_error().is_none())
}

impl SerialTransport for SystemPort {
    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, SerialError> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.port
            .set_timeout(timeout)
            .map_err(|e| SerialError::Io(format!("{}: {}", self.path.display(), e)))?;
        loop {
            match self.port.read(buf) {
                Ok(0) => {
                    return Err(SerialError::Disconnected(format!(
                        "{}: end of stream",
                        self.path.display()
                    )))
                }
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io_error(e)),
            }
        }
    }

    fn write_all(&mut self, data: &[u8]) -> Result<(), SerialError> {
        let per_byte = Duration::from_micros(10_000_000 / u64::from(self.baud.max(1)));
        let timeout = WRITE_MARGIN + per_byte * data.len() as u32;
        self.port
            .set_timeout(timeout)
            .map_err(|e| SerialError::Io(format!("{}: {}", self.path.display(), e)))?;
        self.port.write_all(data).map_err(|e| self.io_error(e))?;
        self.port.flush().map_err(|e| self.io_error(e))
    }

    fn clear_input(&mut self) -> Result<(), SerialError> {
        self.port.clear(ClearBuffer::Input).map_err(|e| {
            let io: io::Error = e.into();
            self.io_error(io)
        })
    }

    fn set_baud(&mut self, baud: u32) -> Result<(), SerialError> {
        self.port.set_baud_rate(baud).map_err(|e| {
            let io: io::Error = e.into();
            self.io_error(io)
        })?;
        self.baud = baud;
        Ok(())
    }

    fn baud(&self) -> u32 {
        self.baud
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_port_is_disconnected() {
        let err = SystemPort::open(Path::new("/dev/does-not-exist-spidd"), 57600).err();
        assert!(matches!(err, Some(SerialError::Disconnected(_))), "{err:?}");
    }

    #[test]
    fn hangups_count_as_disconnects() {
        assert!(is_disconnect(&io::Error::from_raw_os_error(5)));
        assert!(is_disconnect(&io::Error::from(io::ErrorKind::BrokenPipe)));
        assert!(!is_disconnect(&io::Error::from(io::ErrorKind::TimedOut)));
        assert!(!is_disconnect(&io::Error::from(
            io::ErrorKind::PermissionDenied
        )));
    }
}
