//! Shared helpers for Kickstand's end-to-end tests (the tests live in `tests/tests/`).
