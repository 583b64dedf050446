#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| regent_host::fuzz::multipart_upload(data));
