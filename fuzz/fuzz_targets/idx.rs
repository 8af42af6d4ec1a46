//! Fuzzes the IDX reader (raw and gzipped, any dimension count): it must return a value or a
//! typed error, never panic, and never allocate more than the input could hold.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let name = std::path::Path::new("fuzz.idx");
    for ndims in [1u8, 3] {
        if let Ok(a) = axon::data::idx::decode_idx_bytes(name, data, ndims, "images") {
            // A decoded array holds exactly what its header declares.
            let n: usize = a.dims.iter().map(|&d| d as usize).product();
            assert_eq!(a.data.len(), n);
        }
    }
});
