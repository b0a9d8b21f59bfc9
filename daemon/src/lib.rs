//! spidd: the SPID capture station daemon.
pub mod config;
pub mod upstream;
pub mod outbox;
pub mod courier;
pub mod api;
pub mod app;
pub mod capture;
pub mod devices;
pub mod link;
pub mod runtime;
pub mod simulate;
