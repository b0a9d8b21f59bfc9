//! spidd: the SPID capture station daemon.
pub mod api;
pub mod app;
pub mod capture;
pub mod config;
pub mod courier;
pub mod devices;
pub mod link;
pub mod notify;
pub mod outbox;
pub mod providers;
pub mod reload;
pub mod runtime;
pub mod simulate;
pub mod status;
pub mod upstream;
