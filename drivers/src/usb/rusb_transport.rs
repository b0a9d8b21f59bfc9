//! [`UsbTransport`] over `rusb` (libusb built in): opens a reader by VID:PID and port path and
//! claims its vendor interface.
//!
//! Written to run unchanged under umockdev (see `spec/aes3500.md` §10): no automatic kernel
//! driver detach, no set-configuration or set-alt-setting, no string descriptor reads.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rusb::{Context, Device, DeviceHandle, UsbContext};

use super::{TransportError, UsbTransport, MIN_TIMEOUT};

/// Where a device is plugged in: the bus number and the chain of hub ports, written as sysfs
/// does (`1-4`, `3-1.1.3`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UsbLocation {
    pub bus: u8,
    pub ports: Vec<u8>,
}

impl fmt::Display for UsbLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-", self.bus)?;
        for (i, port) in self.ports.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{port}")?;
        }
        Ok(())
    }
}

impl FromStr for UsbLocation {
    type Err = String;
    fn from_str(s: &str) -> Result<UsbLocation, String> {
        let bad = || format!("`{s}` is not a USB port path like `1-4` or `3-1.2`");
        let (bus, ports) = s.split_once('-').ok_or_else(bad)?;
        let bus = bus.parse().map_err(|_| bad())?;
        let ports = ports
            .split('.')
            .map(|p| p.parse::<u8>().map_err(|_| bad()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(UsbLocation { bus, ports })
    }
}

impl UsbLocation {
    pub(crate) fn of<T: UsbContext>(device: &Device<T>) -> UsbLocation {
        UsbLocation {
            bus: device.bus_number(),
            ports: device.port_numbers().unwrap_or_default(),
        }
    }
}

pub(crate) fn map_error(e: rusb::Error) -> TransportError {
    match e {
        rusb::Error::Timeout => TransportError::Timeout,
        rusb::Error::NoDevice | rusb::Error::NotFound => TransportError::Disconnected,
        rusb::Error::Pipe => TransportError::Stall,
        other => TransportError::Io(other.to_string()),
    }
}

/// One opened reader with its vendor interface claimed; released on drop.
pub struct RusbTransport {
    handle: DeviceHandle<Context>,
    interface: u8,
}

impl fmt::Debug for RusbTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RusbTransport")
            .field("interface", &self.interface)
            .finish()
    }
}

impl RusbTransport {
    /// Opens the first device with this VID:PID (at `location` when given). A machine without
    /// a USB subsystem, or without the device, gives [`TransportError::Disconnected`].
    pub fn open(
        vendor: u16,
        product: u16,
        location: Option<&UsbLocation>,
    ) -> Result<RusbTransport, TransportError> {
        let context = Context::new().map_err(|e| {
            tracing::debug!(error = %e, "no usb subsystem");
            TransportError::Disconnected
        })?;
        let devices = context.devices().map_err(map_error)?;
        for device in devices.iter() {
            let Ok(desc) = device.device_descriptor() else {
                continue;
            };
            if desc.vendor_id() != vendor || desc.product_id() != product {
                continue;
            }
            if location.is_some_and(|want| *want != UsbLocation::of(&device)) {
                continue;
            }
            return RusbTransport::claim(device);
        }
        Err(TransportError::Disconnected)
    }

    /// Opens `device` and claims its first vendor-specific (ff/ff/ff) interface, or
    /// interface 0 when it has none.
    pub(crate) fn claim(device: Device<Context>) -> Result<RusbTransport, TransportError> {
        let interface = vendor_interface(&device).unwrap_or(0);
        let handle = device.open().map_err(map_error)?;
        // umockdev answers the kernel-driver query with "none"; auto-detach would go through
        // USBDEVFS_IOCTL, which it cannot replay.
        if handle.kernel_driver_active(interface).unwrap_or(false) {
            handle.detach_kernel_driver(interface).map_err(map_error)?;
        }
        handle.claim_interface(interface).map_err(map_error)?;
        tracing::debug!(
            bus = device.bus_number(),
            address = device.address(),
            interface,
            "usb interface claimed"
        );
        Ok(RusbTransport { handle, interface })
    }
}

fn vendor_interface<T: UsbContext>(device: &Device<T>) -> Option<u8> {
    let config = device.config_descriptor(0).ok()?;
    config.interfaces().find_map(|iface| {
        let alt = iface.descriptors().next()?;
        (alt.class_code() == 0xff && alt.sub_class_code() == 0xff && alt.protocol_code() == 0xff)
            .then(|| alt.interface_number())
    })
}

impl Drop for RusbTransport {
    fn drop(&mut self) {
        // Fails only when the device is already gone, which is what dropping wants anyway.
        let _ = self.handle.release_interface(self.interface);
    }
}

/// libusb takes whole milliseconds and reads 0 as "no timeout": never let a short timeout
/// round down to an endless wait.
fn libusb_timeout(timeout: Duration) -> Duration {
    timeout.max(MIN_TIMEOUT)
}

impl UsbTransport for RusbTransport {
    fn control_in(
        &mut self,
        request_type: u8,
        request: u8,
        value: u16,
        index: u16,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<usize, TransportError> {
        self.handle
            .read_control(
                request_type,
                request,
                value,
                index,
                buf,
                libusb_timeout(timeout),
            )
            .map_err(map_error)
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
        self.handle
            .write_control(
                request_type,
                request,
                value,
                index,
                data,
                libusb_timeout(timeout),
            )
            .map_err(map_error)
    }

    fn interrupt_in(
        &mut self,
        endpoint: u8,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<usize, TransportError> {
        self.handle
            .read_interrupt(endpoint, buf, libusb_timeout(timeout))
            .map_err(map_error)
    }

    fn bulk_in(
        &mut self,
        endpoint: u8,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<usize, TransportError> {
        self.handle
            .read_bulk(endpoint, buf, libusb_timeout(timeout))
            .map_err(map_error)
    }

    fn bulk_out(
        &mut self,
        endpoint: u8,
        data: &[u8],
        timeout: Duration,
    ) -> Result<usize, TransportError> {
        self.handle
            .write_bulk(endpoint, data, libusb_timeout(timeout))
            .map_err(map_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_round_trip_in_sysfs_form() {
        let l: UsbLocation = "3-1.1.3".parse().unwrap();
        assert_eq!(
            l,
            UsbLocation {
                bus: 3,
                ports: vec![1, 1, 3]
            }
        );
        assert_eq!(l.to_string(), "3-1.1.3");
        assert_eq!("1-4".parse::<UsbLocation>().unwrap().to_string(), "1-4");
        assert!("1".parse::<UsbLocation>().is_err());
        assert!("1-x".parse::<UsbLocation>().is_err());
        assert!("300-1".parse::<UsbLocation>().is_err());
    }

    #[test]
    fn rusb_errors_map_to_transport_errors() {
        assert_eq!(
            map_error(rusb::Error::NoDevice),
            TransportError::Disconnected
        );
        assert_eq!(map_error(rusb::Error::Timeout), TransportError::Timeout);
        assert_eq!(map_error(rusb::Error::Pipe), TransportError::Stall);
        assert!(matches!(map_error(rusb::Error::Io), TransportError::Io(_)));
    }
}
