//! A U.are.U session over any [`UsbTransport`]: power-up with its retries, finger on/off
//! through interrupt events, and the capture (image transfer, key requests, decoding).

use std::time::Duration;

use super::frame::{self, Frame, FRAME_LEN};
use super::{event, mode, reg, Model, Seeds, CONTROL_IN, CONTROL_OUT, DRIVER, EP_EVENTS, EP_IMAGE};
use super::{EVENT_LEN, PPI, REQUEST_REGISTERS};
use crate::usb::{Clock, Deadline, SystemClock, TransportError, UsbTransport};
use crate::{Cancel, DeviceError, DeviceInfo, DeviceKind, FingerImage, FingerprintReader};

const CONTROL_TIMEOUT: Duration = Duration::from_millis(5000);
/// An image transfer in capture mode takes ~100 ms on the wire; five seconds is a dead device.
const IMAGE_TIMEOUT: Duration = Duration::from_millis(5000);
/// Event reads are cut into slices this long so that a cancel is seen promptly.
const EVENT_SLICE: Duration = Duration::from_millis(100);
/// The scan-power-on event must follow a power-up within this long, or power-up starts over.
const SCAN_POWER_WAIT: Duration = Duration::from_millis(300);
const POWER_UP_ATTEMPTS: u32 = 3;
/// HWSTAT polls during power-up and power reboot, this far apart.
const HWSTAT_TRIES: u32 = 100;
const HWSTAT_PAUSE: Duration = Duration::from_millis(10);
/// Image transfers that fail their checks (or come back empty) are retried this often.
const IMAGE_ATTEMPTS: u32 = 3;

pub struct Uru4000<T: UsbTransport> {
    transport: T,
    clock: Box<dyn Clock>,
    model: Model,
    address: String,
    seeds: Seeds,
    powered: bool,
    firmware: Option<String>,
}

impl<T: UsbTransport> Uru4000<T> {
    /// `address` is where the reader is, for [`DeviceInfo`] (e.g. `05ba:000a bus 1 port 4`).
    pub fn new(transport: T, model: Model, address: impl Into<String>, seeds: Seeds) -> Uru4000<T> {
        Uru4000::with_clock(transport, model, address, seeds, Box::new(SystemClock))
    }

    pub fn with_clock(
        transport: T,
        model: Model,
        address: impl Into<String>,
        seeds: Seeds,
        clock: Box<dyn Clock>,
    ) -> Uru4000<T> {
        Uru4000 {
            transport,
            clock,
            model,
            address: address.into(),
            seeds,
            powered: false,
            firmware: None,
        }
    }

    fn read_regs(&mut self, first: u16, buf: &mut [u8]) -> Result<(), DeviceError> {
        let got = self.transport.control_in(
            CONTROL_IN,
            REQUEST_REGISTERS,
            first,
            0,
            buf,
            CONTROL_TIMEOUT,
        )?;
        if got != buf.len() {
            return Err(DeviceError::Protocol(format!(
                "register read at {first:#x} returned {got} of {} bytes",
                buf.len()
            )));
        }
        Ok(())
    }

    fn write_regs(&mut self, first: u16, values: &[u8]) -> Result<(), DeviceError> {
        let sent = self.transport.control_out(
            CONTROL_OUT,
            REQUEST_REGISTERS,
            first,
            0,
            values,
            CONTROL_TIMEOUT,
        )?;
        if sent != values.len() {
            return Err(DeviceError::Protocol(format!(
                "register write at {first:#x} took {sent} of {} bytes",
                values.len()
            )));
        }
        Ok(())
    }

    fn hwstat(&mut self) -> Result<u8, DeviceError> {
        let mut b = [0u8];
        self.read_regs(reg::HWSTAT, &mut b)?;
        Ok(b[0])
    }

    fn set_mode(&mut self, value: u8) -> Result<(), DeviceError> {
        self.write_regs(reg::MODE, &[value])
    }

    /// Waits for the event `wanted`; `Ok(false)` when `timeout` passes first. Other events
    /// are logged and dropped.
    fn wait_event(
        &mut self,
        wanted: u16,
        timeout: Duration,
        cancel: &Cancel,
    ) -> Result<bool, DeviceError> {
        let deadline = Deadline::after(self.clock.as_ref(), timeout);
        let mut buf = [0u8; EVENT_LEN];
        loop {
            if cancel.is_cancelled() {
                return Err(DeviceError::Cancelled);
            }
            let Some(slice) = deadline.next_slice(self.clock.as_ref(), EVENT_SLICE) else {
                return Ok(false);
            };
            match self.transport.interrupt_in(EP_EVENTS, &mut buf, slice) {
                Ok(EVENT_LEN) => {
                    let kind = u16::from_be_bytes([buf[0], buf[1]]);
                    if kind == wanted {
                        return Ok(true);
                    }
                    if kind == event::DEATH {
                        tracing::warn!("uru4000 announced that its next scan will fail");
                    } else {
                        tracing::debug!(
                            event = format_args!("{kind:04x}"),
                            "uru4000 event ignored"
                        );
                    }
                }
                Ok(got) => {
                    return Err(DeviceError::Protocol(format!(
                        "event packet of {got} bytes, not {EVENT_LEN}"
                    )))
                }
                Err(TransportError::Timeout) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Polls HWSTAT until `done` holds, pausing between reads.
    fn poll_hwstat(
        &mut self,
        write: Option<u8>,
        done: impl Fn(u8) -> bool,
    ) -> Result<Option<u8>, DeviceError> {
        for attempt in 1..=HWSTAT_TRIES {
            if let Some(value) = write {
                self.write_regs(reg::HWSTAT, &[value])?;
            }
            let hw = self.hwstat()?;
            if done(hw) {
                return Ok(Some(hw));
            }
            if attempt < HWSTAT_TRIES {
                self.clock.sleep(HWSTAT_PAUSE);
            }
        }
        Ok(None)
    }

    /// One pass of the power-up: fix a confused power state, force low power, leave it, and
    /// wait for the scan-power event. `Ok(false)` when the event did not come.
    fn power_up_once(&mut self) -> Result<bool, DeviceError> {
        let mut hw = self.hwstat()?;
        if hw & 0x84 == 0x84 {
            // Low power with the error bit: write the low nibble back and wait for bit 0.
            self.write_regs(reg::HWSTAT, &[hw & 0x0f])?;
            hw = self
                .poll_hwstat(None, |hw| hw & 0x01 != 0)?
                .ok_or_else(|| {
                    DeviceError::Protocol("uru4000 power could not be rebooted".into())
                })?;
        }
        if hw & 0x80 == 0 {
            self.write_regs(reg::HWSTAT, &[hw | 0x80])?;
        }
        self.poll_hwstat(Some(hw & 0x0f), |hw| hw & 0x80 == 0)?
            .ok_or_else(|| DeviceError::Protocol("uru4000 stayed in low power".into()))?;
        // The event waits in the device's endpoint until read, so reading it only now is fine.
        self.wait_event(event::SCAN_POWER_ON, SCAN_POWER_WAIT, &Cancel::new())
    }
}

impl<T: UsbTransport> FingerprintReader for Uru4000<T> {
    fn info(&self) -> DeviceInfo {
        DeviceInfo {
            kind: DeviceKind::FingerprintReader,
            driver: DRIVER.into(),
            address: self.address.clone(),
            name: self.model.name().into(),
            firmware: self.firmware.clone(),
        }
    }

    fn open(&mut self) -> Result<(), DeviceError> {
        if self.powered {
            return Ok(());
        }
        let mut up = false;
        for attempt in 1..=POWER_UP_ATTEMPTS {
            if self.power_up_once()? {
                up = true;
                break;
            }
            tracing::warn!(
                attempt,
                "uru4000 scan power did not come on; powering up again"
            );
        }
        if !up {
            return Err(DeviceError::Protocol(format!(
                "uru4000 scan power did not come on after {POWER_UP_ATTEMPTS} power-ups"
            )));
        }
        let mut info = [0u8; 16];
        self.read_regs(reg::DEVICE_INFO, &mut info)?;
        // Which of the two is hardware and which firmware is not known.
        let versions = format!(
            "{:02x}{:02x}/{:02x}{:02x}",
            info[10], info[11], info[4], info[5]
        );
        tracing::info!(versions = %versions, "uru4000 powered up");
        self.firmware = Some(versions);
        self.powered = true;
        Ok(())
    }

    fn wait_finger(&mut self, timeout: Duration, cancel: &Cancel) -> Result<(), DeviceError> {
        self.open()?;
        self.set_mode(mode::AWAIT_FINGER_ON)?;
        match self.wait_event(event::FINGER_ON, timeout, cancel)? {
            true => Ok(()),
            false => Err(DeviceError::Timeout),
        }
    }

    fn capture(&mut self) -> Result<FingerImage, DeviceError> {
        self.open()?;
        self.set_mode(mode::CAPTURE)?;
        let mut buf = vec![0u8; FRAME_LEN];
        let mut frame = None;
        for attempt in 1..=IMAGE_ATTEMPTS {
            let got = match self.transport.bulk_in(EP_IMAGE, &mut buf, IMAGE_TIMEOUT) {
                Err(TransportError::Timeout) => {
                    return Err(DeviceError::Io(
                        "uru4000 sent no image in capture mode".into(),
                    ))
                }
                other => other?,
            };
            match Frame::parse(&buf[..got]) {
                Ok(f) => {
                    frame = Some(f);
                    break;
                }
                Err(e) => {
                    tracing::warn!(attempt, error = %e, "uru4000 image transfer refused; reading again")
                }
            }
        }
        let mut frame = frame.ok_or_else(|| {
            DeviceError::Protocol(format!(
                "uru4000 sent {IMAGE_ATTEMPTS} unusable image transfers"
            ))
        })?;
        if frame.is_scrambled() {
            tracing::debug!(deviation = frame.deviation(), "uru4000 image is scrambled");
            frame.unscramble(|key_number| {
                let seed = self.seeds.next_seed();
                let s = seed.to_le_bytes();
                self.write_regs(
                    reg::SCRAMBLE_DATA_INDEX,
                    &[key_number, s[0], s[1], s[2], s[3]],
                )?;
                let mut key = [0u8; 4];
                self.read_regs(reg::SCRAMBLE_DATA_KEY, &mut key)?;
                Ok::<_, DeviceError>(u32::from_le_bytes(key) ^ seed)
            })?;
        }
        Ok(FingerImage {
            image: frame::finish(&frame.assemble(), self.model),
            ppi: PPI,
        })
    }

    fn wait_finger_off(&mut self, timeout: Duration, cancel: &Cancel) -> Result<(), DeviceError> {
        self.open()?;
        self.set_mode(mode::AWAIT_FINGER_OFF)?;
        match self.wait_event(event::FINGER_OFF, timeout, cancel)? {
            true => Ok(()),
            false => Err(DeviceError::Timeout),
        }
    }

    fn close(&mut self) {
        if !std::mem::take(&mut self.powered) {
            return;
        }
        if let Err(e) = self.set_mode(mode::OFF) {
            tracing::debug!(error = %e, "uru4000 could not be switched off (unplugged?)");
        }
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
