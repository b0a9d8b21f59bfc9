//! USB readers: the transfer-level [`UsbTransport`] every USB session runs over, its errors, the
//! clock sessions wait on, the `rusb` implementation and the [`UsbFamily`] discovery.
//!
//! Device protocols (`aes3500`, `uru4000`) see only this trait; `rusb` appears in
//! `rusb_transport.rs` and `family.rs` alone.

use std::time::{Duration, Instant};

use crate::DeviceError;

mod family;
mod rusb_transport;

#[cfg(test)]
pub(crate) mod fake;

pub use family::{SupportedReader, UsbFamily, EMULATION_ENV, SUPPORTED};
pub use rusb_transport::{RusbTransport, UsbLocation};

/// Why a USB transfer failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// Nothing arrived (or nothing was accepted) before the transfer's timeout.
    #[error("usb transfer timed out")]
    Timeout,
    /// The device is gone (unplugged, or never there).
    #[error("usb device disconnected")]
    Disconnected,
    /// The endpoint answered with a STALL handshake.
    #[error("usb endpoint stalled")]
    Stall,
    /// Anything else the host controller or the kernel reported.
    #[error("usb io error: {0}")]
    Io(String),
}

impl From<TransportError> for DeviceError {
    /// A transfer timeout that reaches here is a device that stopped answering a command, not
    /// a finger that was not presented: sessions map their own finger waits to
    /// [`DeviceError::Timeout`] before this.
    fn from(e: TransportError) -> DeviceError {
        match e {
            TransportError::Disconnected => {
                DeviceError::Unavailable("usb device disconnected".into())
            }
            TransportError::Timeout => DeviceError::Io("usb device did not answer in time".into()),
            TransportError::Stall => DeviceError::Protocol("usb endpoint stalled".into()),
            TransportError::Io(msg) => DeviceError::Io(msg),
        }
    }
}

/// Synchronous USB transfers on one claimed interface. Every call returns the number of bytes
/// transferred; an IN transfer may return fewer bytes than the buffer holds (a short packet
/// ended it, or the timeout cut it).
pub trait UsbTransport: Send {
    /// A control transfer from the device (`request_type` has the IN bit `0x80` set).
    fn control_in(
        &mut self,
        request_type: u8,
        request: u8,
        value: u16,
        index: u16,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<usize, TransportError>;
    /// A control transfer to the device.
    fn control_out(
        &mut self,
        request_type: u8,
        request: u8,
        value: u16,
        index: u16,
        data: &[u8],
        timeout: Duration,
    ) -> Result<usize, TransportError>;
    fn interrupt_in(
        &mut self,
        endpoint: u8,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<usize, TransportError>;
    fn bulk_in(
        &mut self,
        endpoint: u8,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<usize, TransportError>;
    fn bulk_out(
        &mut self,
        endpoint: u8,
        data: &[u8],
        timeout: Duration,
    ) -> Result<usize, TransportError>;
}

impl<T: UsbTransport + ?Sized> UsbTransport for Box<T> {
    fn control_in(
        &mut self,
        request_type: u8,
        request: u8,
        value: u16,
        index: u16,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<usize, TransportError> {
        (**self).control_in(request_type, request, value, index, buf, timeout)
    }
    fn control_out(
        &mut self,
        request_type: u8,
        request: u8,
        value: u16,
        index: u16,
        data: &[u8],
        timeout: Duration,
    ) -> Result<usize, TransportError> {
        (**self).control_out(request_type, request, value, index, data, timeout)
    }
    fn interrupt_in(
        &mut self,
        endpoint: u8,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<usize, TransportError> {
        (**self).interrupt_in(endpoint, buf, timeout)
    }
    fn bulk_in(
        &mut self,
        endpoint: u8,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<usize, TransportError> {
        (**self).bulk_in(endpoint, buf, timeout)
    }
    fn bulk_out(
        &mut self,
        endpoint: u8,
        data: &[u8],
        timeout: Duration,
    ) -> Result<usize, TransportError> {
        (**self).bulk_out(endpoint, data, timeout)
    }
}

/// Where sessions read the time and pause between retries, so tests can run them on a virtual
/// clock instead of sleeping.
pub trait Clock: Send {
    fn now(&self) -> Instant;
    fn sleep(&self, d: Duration);
}

/// The real clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn sleep(&self, d: Duration) {
        std::thread::sleep(d)
    }
}

/// The shortest transfer timeout libusb can express.
pub(crate) const MIN_TIMEOUT: Duration = Duration::from_millis(1);

/// A deadline for a blocking wait, cut into slices short enough that [`crate::Cancel`] is seen
/// promptly.
pub(crate) struct Deadline {
    end: Instant,
}

impl Deadline {
    pub(crate) fn after(clock: &dyn Clock, timeout: Duration) -> Deadline {
        Deadline {
            end: clock.now() + timeout,
        }
    }
    /// The time left, at most `slice`; `None` once less than a millisecond is left (libusb
    /// counts whole milliseconds, and to it a zero timeout means "wait forever").
    pub(crate) fn next_slice(&self, clock: &dyn Clock, slice: Duration) -> Option<Duration> {
        let left = self.end.checked_duration_since(clock.now())?;
        (left >= MIN_TIMEOUT).then(|| left.min(slice))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vanished_device_is_unavailable_to_the_daemon() {
        assert!(matches!(
            DeviceError::from(TransportError::Disconnected),
            DeviceError::Unavailable(_)
        ));
        assert!(matches!(
            DeviceError::from(TransportError::Stall),
            DeviceError::Protocol(_)
        ));
        assert!(matches!(
            DeviceError::from(TransportError::Timeout),
            DeviceError::Io(_)
        ));
        assert_eq!(
            DeviceError::from(TransportError::Io("x".into())),
            DeviceError::Io("x".into())
        );
    }

    #[test]
    fn deadlines_slice_waits_and_end() {
        let clock = fake::VirtualClock::new();
        let d = Deadline::after(&clock, Duration::from_millis(250));
        assert_eq!(
            d.next_slice(&clock, Duration::from_millis(100)),
            Some(Duration::from_millis(100))
        );
        clock.advance(Duration::from_millis(200));
        assert_eq!(
            d.next_slice(&clock, Duration::from_millis(100)),
            Some(Duration::from_millis(50))
        );
        clock.advance(Duration::from_micros(49_100));
        // 0.9 ms left would be a 0 ms (endless) libusb timeout.
        assert_eq!(d.next_slice(&clock, Duration::from_millis(100)), None);
    }
}
