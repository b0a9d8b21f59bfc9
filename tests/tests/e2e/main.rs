//! End-to-end tests: a whole `spidd --simulate` station driven over real HTTP, as an integrator
//! and a technician would. One test binary; shared helpers in `station.rs`.

mod crash;
mod devices;
mod errors;
mod external_upstream;
mod flows;
mod reload;
mod station;
mod systemd_notify;
mod upstream_down;
mod usb_replay;
