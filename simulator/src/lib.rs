//! The station's test double world: synthetic fingerprints and faces, simulated devices that
//! implement the `drivers` traits, and a fake SPID Server speaking the upstream API.

pub mod control;
pub mod devices;
pub mod face;
pub mod families;
pub mod fingerprint;
pub mod providers;
pub mod scene;
pub mod server;
pub mod usbmon;
pub mod zhiantec;
