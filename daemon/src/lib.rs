//! spidd: the SPID capture station daemon.
