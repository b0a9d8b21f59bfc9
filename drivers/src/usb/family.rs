//! [`UsbFamily`]: lists the attached USB readers the station drives, opens each with its
//! session, and wakes the device manager on hotplug where libusb supports it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusb::{Context, Device, UsbContext};

use super::rusb_transport::{RusbTransport, UsbLocation};
use crate::family::{Candidate, ReaderFamily, Wake};
use crate::uru4000::{Model, Seeds, Uru4000};
use crate::{aes3500, uru4000, DeviceError, DeviceKind, FingerprintReader};

/// A USB reader this crate has a driver for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SupportedReader {
    pub vendor: u16,
    pub product: u16,
    pub driver: &'static str,
    pub name: &'static str,
}

/// Every VID:PID the family picks up.
pub const SUPPORTED: &[SupportedReader] = &[
    SupportedReader {
        vendor: 0x05ba,
        product: 0x0007,
        driver: uru4000::DRIVER,
        name: "DigitalPersona U.are.U 4000",
    },
    SupportedReader {
        vendor: 0x05ba,
        product: 0x0008,
        driver: uru4000::DRIVER,
        name: "DigitalPersona U.are.U 4000",
    },
    SupportedReader {
        vendor: 0x05ba,
        product: 0x000a,
        driver: uru4000::DRIVER,
        name: "DigitalPersona U.are.U 4000B/4500",
    },
    SupportedReader {
        vendor: aes3500::VENDOR_ID,
        product: aes3500::PRODUCT_ID,
        driver: aes3500::DRIVER,
        name: aes3500::NAME,
    },
];

/// Set to `1` to give U.are.U sessions the fixed emulation seed sequence, so a session
/// written by the simulator (a usbmon pcap) replays; like libfprint's `FP_DEVICE_EMULATION`.
pub const EMULATION_ENV: &str = "SPIDD_DEVICE_EMULATION";

fn supported(vendor: u16, product: u16) -> Option<&'static SupportedReader> {
    SUPPORTED
        .iter()
        .find(|s| s.vendor == vendor && s.product == product)
}

/// The USB fingerprint readers: U.are.U 4000/4000B/4500 and AES3500.
pub struct UsbFamily {
    /// `None` while the machine has no USB subsystem (libusb could not start).
    context: Mutex<Option<Context>>,
    emulation: bool,
    watchers: Mutex<Vec<Watcher>>,
}

struct Watcher {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Default for UsbFamily {
    fn default() -> UsbFamily {
        UsbFamily::new()
    }
}

impl UsbFamily {
    /// Never fails: without a USB subsystem the family simply finds nothing. Reads
    /// [`EMULATION_ENV`].
    pub fn new() -> UsbFamily {
        let emulation = std::env::var(EMULATION_ENV).is_ok_and(|v| v == "1");
        UsbFamily {
            context: Mutex::new(None),
            emulation,
            watchers: Mutex::new(Vec::new()),
        }
    }

    fn context(&self) -> Option<Context> {
        let mut slot = self.context.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            match Context::new() {
                Ok(c) => *slot = Some(c),
                Err(e) => tracing::debug!(error = %e, "no usb subsystem; no usb readers"),
            }
        }
        slot.clone()
    }

    fn candidate(device: &Device<Context>) -> Option<Candidate> {
        let desc = device.device_descriptor().ok()?;
        let reader = supported(desc.vendor_id(), desc.product_id())?;
        let location = UsbLocation::of(device);
        let ids = format!("{:04x}:{:04x}", reader.vendor, reader.product);
        let ports = location
            .ports
            .iter()
            .map(u8::to_string)
            .collect::<Vec<_>>()
            .join(".");
        Some(Candidate {
            kind: DeviceKind::FingerprintReader,
            driver: reader.driver,
            id: format!("usb:{ids}@{location}"),
            address: format!("{ids} bus {} port {ports}", location.bus),
            name: reader.name.into(),
        })
    }
}

/// `usb:05ba:000a@1-4` → (0x05ba, 0x000a, Some(1-4)); the `@` part is optional.
fn parse_id(id: &str) -> Option<(u16, u16, Option<UsbLocation>)> {
    let rest = id.strip_prefix("usb:")?;
    let (ids, location) = match rest.split_once('@') {
        Some((ids, loc)) => (ids, Some(loc.parse().ok()?)),
        None => (rest, None),
    };
    let (vendor, product) = ids.split_once(':')?;
    Some((
        u16::from_str_radix(vendor, 16).ok()?,
        u16::from_str_radix(product, 16).ok()?,
        location,
    ))
}

impl ReaderFamily for UsbFamily {
    fn name(&self) -> &'static str {
        "usb"
    }

    fn enumerate(&self) -> Vec<Candidate> {
        let Some(context) = self.context() else {
            return Vec::new();
        };
        match context.devices() {
            Ok(list) => list
                .iter()
                .filter_map(|d| UsbFamily::candidate(&d))
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "listing usb devices failed");
                Vec::new()
            }
        }
    }

    fn open(&self, candidate: &Candidate) -> Result<Box<dyn FingerprintReader>, DeviceError> {
        let (vendor, product, location) = parse_id(&candidate.id).ok_or_else(|| {
            DeviceError::Unavailable(format!("`{}` is not a usb reader id", candidate.id))
        })?;
        let reader = supported(vendor, product).ok_or_else(|| {
            DeviceError::Unavailable(format!("no driver for usb {vendor:04x}:{product:04x}"))
        })?;
        let gone = || DeviceError::Unavailable(format!("{} is not attached", candidate.id));
        let context = self.context().ok_or_else(gone)?;
        let devices = context.devices().map_err(|_| gone())?;
        let device = devices
            .iter()
            .find(|d| {
                d.device_descriptor()
                    .is_ok_and(|desc| desc.vendor_id() == vendor && desc.product_id() == product)
                    && location
                        .as_ref()
                        .is_none_or(|want| *want == UsbLocation::of(d))
            })
            .ok_or_else(gone)?;
        let transport = RusbTransport::claim(device).map_err(DeviceError::from)?;
        let address = candidate.address.clone();
        if reader.driver == aes3500::DRIVER {
            return Ok(Box::new(aes3500::Aes3500::new(transport, address)));
        }
        let model = Model::from_product(product).ok_or_else(gone)?;
        let seeds = if self.emulation {
            Seeds::emulation()
        } else {
            Seeds::Random
        };
        Ok(Box::new(Uru4000::new(transport, model, address, seeds)))
    }

    fn watch(&self, wake: Wake) -> bool {
        if !rusb::has_hotplug() {
            return false;
        }
        let Some(context) = self.context() else {
            return false;
        };
        let registration = match rusb::HotplugBuilder::new()
            .enumerate(false)
            .register(&context, Box::new(WakeOnChange(wake)))
        {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "usb hotplug unavailable; polling instead");
                return false;
            }
        };
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let spawned = std::thread::Builder::new()
            .name("usb-hotplug".into())
            .spawn(move || {
                let _registration = registration;
                while !flag.load(Ordering::Relaxed) {
                    if let Err(e) = context.handle_events(Some(Duration::from_millis(250))) {
                        tracing::warn!(error = %e, "usb hotplug events failed; polling instead");
                        break;
                    }
                }
            });
        match spawned {
            Ok(thread) => {
                let mut watchers = self.watchers.lock().unwrap_or_else(|e| e.into_inner());
                watchers.push(Watcher {
                    stop,
                    thread: Some(thread),
                });
                true
            }
            Err(_) => false,
        }
    }
}

struct WakeOnChange(Wake);

impl WakeOnChange {
    fn notify(&self, device: &Device<Context>) {
        // A device we cannot identify might still be one of ours: rescanning is cheap.
        let ours = device
            .device_descriptor()
            .map_or(true, |d| supported(d.vendor_id(), d.product_id()).is_some());
        if ours {
            (self.0)();
        }
    }
}

impl rusb::Hotplug<Context> for WakeOnChange {
    fn device_arrived(&mut self, device: Device<Context>) {
        self.notify(&device)
    }
    fn device_left(&mut self, device: Device<Context>) {
        self.notify(&device)
    }
}

impl Drop for UsbFamily {
    fn drop(&mut self) {
        let watchers = std::mem::take(self.watchers.get_mut().unwrap_or_else(|e| e.into_inner()));
        for mut w in watchers {
            w.stop.store(true, Ordering::Relaxed);
            if let Some(t) = w.thread.take() {
                let _ = t.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_with_and_without_a_port_path() {
        assert_eq!(
            parse_id("usb:05ba:000a@1-4"),
            Some((
                0x05ba,
                0x000a,
                Some(UsbLocation {
                    bus: 1,
                    ports: vec![4]
                })
            ))
        );
        assert_eq!(parse_id("usb:08ff:5731"), Some((0x08ff, 0x5731, None)));
        assert_eq!(parse_id("serial:/dev/ttyUSB0"), None);
        assert_eq!(parse_id("usb:05ba"), None);
        assert_eq!(parse_id("usb:05ba:000a@x"), None);
    }

    #[test]
    fn every_supported_reader_has_a_driver() {
        for r in SUPPORTED {
            match r.driver {
                "aes3500" => assert_eq!((r.vendor, r.product), (0x08ff, 0x5731)),
                "uru4000" => assert!(Model::from_product(r.product).is_some()),
                other => panic!("unknown driver {other}"),
            }
        }
    }

    /// On a machine without usbfs (this sandbox, CI containers) libusb cannot start: the family
    /// finds nothing and opening fails cleanly. Where USB exists, no supported reader is
    /// attached to a build machine either.
    #[test]
    fn a_machine_without_readers_lists_none_and_opens_none() {
        let family = UsbFamily::new();
        assert_eq!(family.name(), "usb");
        assert!(family.enumerate().is_empty());
        let ghost = Candidate {
            kind: DeviceKind::FingerprintReader,
            driver: "uru4000",
            id: "usb:05ba:000a@1-4".into(),
            address: "05ba:000a bus 1 port 4".into(),
            name: "U.are.U".into(),
        };
        assert!(matches!(
            family.open(&ghost),
            Err(DeviceError::Unavailable(_))
        ));
    }
}
