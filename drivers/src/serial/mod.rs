//! Byte-stream transport for serial readers: the [`SerialTransport`] trait sessions run over,
//! its `serialport` implementation ([`SystemPort`]) and the discovery of serial bridges.

mod family;
mod port;
mod sysfs;

use std::time::Duration;

use crate::DeviceError;

pub use family::SerialFamily;
pub use port::SystemPort;
pub use sysfs::{bridge_model, enumerate_bridges, BridgePort, KNOWN_BRIDGES};

/// Why a serial operation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SerialError {
    /// Nothing arrived within the timeout.
    #[error("no data within the timeout")]
    Timeout,
    /// The port is gone (unplugged, hung up) or was never there.
    #[error("serial port disconnected: {0}")]
    Disconnected(String),
    /// Any other IO failure of the port.
    #[error("serial io error: {0}")]
    Io(String),
}

impl From<SerialError> for DeviceError {
    fn from(e: SerialError) -> DeviceError {
        match e {
            SerialError::Timeout => DeviceError::Io("serial read timed out".into()),
            SerialError::Disconnected(why) => DeviceError::Unavailable(why),
            SerialError::Io(why) => DeviceError::Io(why),
        }
    }
}

/// A half-duplex byte stream to a serial device (a UART behind a USB bridge, a pty in tests).
pub trait SerialTransport: Send {
    /// Reads at least one byte into `buf`, waiting at most `timeout` for the first one.
    /// Returns the count read (never 0: end of stream is [`SerialError::Disconnected`]).
    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, SerialError>;
    /// Writes all of `data` and waits until it has been handed to the line.
    fn write_all(&mut self, data: &[u8]) -> Result<(), SerialError>;
    /// Discards whatever was received and not yet read.
    fn clear_input(&mut self) -> Result<(), SerialError>;
    /// Changes the line speed.
    fn set_baud(&mut self, baud: u32) -> Result<(), SerialError>;
    /// The current line speed.
    fn baud(&self) -> u32;
}

impl<T: SerialTransport + ?Sized> SerialTransport for Box<T> {
    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, SerialError> {
        (**self).read(buf, timeout)
    }
    fn write_all(&mut self, data: &[u8]) -> Result<(), SerialError> {
        (**self).write_all(data)
    }
    fn clear_input(&mut self) -> Result<(), SerialError> {
        (**self).clear_input()
    }
    fn set_baud(&mut self, baud: u32) -> Result<(), SerialError> {
        (**self).set_baud(baud)
    }
    fn baud(&self) -> u32 {
        (**self).baud()
    }
}
