#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| regent_host::fuzz::plugin_input(data));
