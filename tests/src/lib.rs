//! End-to-end tests and benchmarks of spidd live in `tests/e2e/` and `benches/`; this library is empty.
