//! An AES3500 session over any [`UsbTransport`]: activation, arming, waiting for the image
//! transfer (which is the finger detection), and finger-off by re-arming.

use std::time::Duration;

use image::GrayImage;

use super::codec::{self, FRAME_LEN};
use super::{DRIVER, EP_IMAGE, EP_REGISTERS, NAME, PPI};
use crate::usb::{Clock, Deadline, SystemClock, TransportError, UsbTransport};
use crate::{Cancel, DeviceError, DeviceInfo, DeviceKind, FingerImage, FingerprintReader};

/// Each register write must be taken within this (libfprint's figure).
const WRITE_TIMEOUT: Duration = Duration::from_millis(4000);
/// Image reads are cut into slices this long so that a cancel is seen promptly.
const READ_SLICE: Duration = Duration::from_millis(100);
/// `capture` without a detected finger waits this long for the (present) finger's scan.
const CAPTURE_WAIT: Duration = Duration::from_secs(5);
/// A re-armed sensor that scans nothing within this long has no finger on it: the detector
/// debounces for 62.5 ms, and a scan plus its 8 KB transfer take a few ms more.
const LIFT_PROBE: Duration = Duration::from_millis(600);

pub struct Aes3500<T: UsbTransport> {
    transport: T,
    clock: Box<dyn Clock>,
    address: String,
    open: bool,
    /// The frame whose arrival reported the finger, until `capture` takes it.
    pending: Option<GrayImage>,
}

impl<T: UsbTransport> Aes3500<T> {
    /// `address` is where the reader is, for [`DeviceInfo`] (e.g. `08ff:5731 bus 3 port 1.1.3`).
    pub fn new(transport: T, address: impl Into<String>) -> Aes3500<T> {
        Aes3500::with_clock(transport, address, Box::new(SystemClock))
    }

    pub fn with_clock(
        transport: T,
        address: impl Into<String>,
        clock: Box<dyn Clock>,
    ) -> Aes3500<T> {
        Aes3500 {
            transport,
            clock,
            address: address.into(),
            open: false,
            pending: None,
        }
    }

    /// Master reset and configuration, then the one-shot scan trigger. The sensor has no way to
    /// disarm a scan, so every wait starts from a reset.
    fn activate_and_arm(&mut self) -> Result<(), DeviceError> {
        for packet in codec::regwrite_transfers(codec::ACTIVATION)
            .into_iter()
            .chain(codec::regwrite_transfers(codec::ARM))
        {
            let sent = self
                .transport
                .bulk_out(EP_REGISTERS, &packet, WRITE_TIMEOUT)?;
            if sent != packet.len() {
                return Err(DeviceError::Protocol(format!(
                    "register write took {sent} of {} bytes",
                    packet.len()
                )));
            }
        }
        Ok(())
    }

    /// Arms a scan and waits for its image. `Ok(None)` when `deadline` passes first.
    fn scan(
        &mut self,
        deadline: &Deadline,
        cancel: &Cancel,
    ) -> Result<Option<GrayImage>, DeviceError> {
        self.activate_and_arm()?;
        // One read of exactly the transfer's size: a replay (and libfprint) uses no other.
        let mut buf = vec![0u8; FRAME_LEN];
        loop {
            if cancel.is_cancelled() {
                return Err(DeviceError::Cancelled);
            }
            let Some(slice) = deadline.next_slice(self.clock.as_ref(), READ_SLICE) else {
                return Ok(None);
            };
            match self.transport.bulk_in(EP_IMAGE, &mut buf, slice) {
                Ok(FRAME_LEN) => {
                    if let Ok(headers) = codec::strip_headers(&buf) {
                        tracing::debug!(?headers, "aes3500 image received");
                    }
                    return Ok(Some(codec::decode_frame(&buf).map_err(protocol)?));
                }
                Ok(got) => {
                    // A slice ended in the middle of a transfer (or the sensor sent a runt): the
                    // rest of that image is lost, so start a fresh scan.
                    tracing::warn!(
                        got,
                        expected = FRAME_LEN,
                        "aes3500 short image transfer; re-arming"
                    );
                    self.activate_and_arm()?;
                }
                Err(TransportError::Timeout) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

fn protocol(e: codec::FrameError) -> DeviceError {
    DeviceError::Protocol(e.to_string())
}

impl<T: UsbTransport> FingerprintReader for Aes3500<T> {
    fn info(&self) -> DeviceInfo {
        DeviceInfo {
            kind: DeviceKind::FingerprintReader,
            driver: DRIVER.into(),
            address: self.address.clone(),
            name: NAME.into(),
            firmware: None,
        }
    }

    /// Nothing goes on the wire: the sensor is reset and configured at every wait.
    fn open(&mut self) -> Result<(), DeviceError> {
        self.open = true;
        Ok(())
    }

    /// The sensor detects the finger itself and only then sends its image, so the finger is
    /// there when the image transfer completes; the image is kept for [`Self::capture`].
    fn wait_finger(&mut self, timeout: Duration, cancel: &Cancel) -> Result<(), DeviceError> {
        self.open()?;
        self.pending = None;
        let deadline = Deadline::after(self.clock.as_ref(), timeout);
        match self.scan(&deadline, cancel)? {
            Some(frame) => {
                self.pending = Some(frame);
                Ok(())
            }
            None => Err(DeviceError::Timeout),
        }
    }

    fn capture(&mut self) -> Result<FingerImage, DeviceError> {
        let raw = match self.pending.take() {
            Some(raw) => raw,
            None => {
                let deadline = Deadline::after(self.clock.as_ref(), CAPTURE_WAIT);
                self.scan(&deadline, &Cancel::new())?.ok_or_else(|| {
                    DeviceError::Protocol("no finger on the sensor to capture".into())
                })?
            }
        };
        Ok(FingerImage {
            image: codec::libfprint_image(&raw),
            ppi: PPI,
        })
    }

    /// The sensor reports no finger-off event: re-arm it and see whether it scans again. A
    /// sensor that stays quiet for [`LIFT_PROBE`] has nothing on it.
    fn wait_finger_off(&mut self, timeout: Duration, cancel: &Cancel) -> Result<(), DeviceError> {
        self.pending = None;
        let deadline = Deadline::after(self.clock.as_ref(), timeout);
        loop {
            let Some(window) = deadline.next_slice(self.clock.as_ref(), LIFT_PROBE) else {
                return Err(DeviceError::Timeout);
            };
            let probe = Deadline::after(self.clock.as_ref(), window);
            match self.scan(&probe, cancel)? {
                None if window == LIFT_PROBE => return Ok(()),
                // The caller's time ran out before a whole probe could say the finger is gone.
                None => return Err(DeviceError::Timeout),
                Some(_) => tracing::debug!("aes3500 finger still on the sensor"),
            }
        }
    }

    /// Nothing goes on the wire (the sensor cannot be disarmed); the interface is released
    /// when the transport is dropped.
    fn close(&mut self) {
        self.open = false;
        self.pending = None;
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
