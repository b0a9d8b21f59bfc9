//! Emulated USB readers for CI: usbmon pcap sessions and umockdev device descriptions that
//! umockdev-run replays to the real rusb code, plus the runner that puts a test inside such a
//! testbed.

mod pcap;
pub mod testbed;
mod uru4500;

pub use pcap::{TransferType, UsbmonCapture, LINKTYPE_USB_LINUX_MMAPPED};
pub use uru4500::{through_glass, umockdev_device, Uru4500Emulator, BUS, DEVNUM, SYSFS_PATH};
