//! Tests of the running emulator over HTTP (reqwest against 127.0.0.1:0), one behaviour per test.

mod api_tests;
mod blob_tests;
mod fault_tests;
mod listing_tests;
mod support;
mod token_tests;
