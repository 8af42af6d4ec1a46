//! What the process holds and what the machine has left (Linux `/proc`; elsewhere the
//! readings are `None` and callers skip what depends on them), and a hint to the cache that
//! memory is about to be read ([`prefetch`]).

/// Resident memory of this process in bytes.
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages = statm.split_whitespace().nth(1)?.parse::<u64>().ok()?;
    Some(pages * 4096)
}

/// The most resident memory this process has held (its high-water mark), bytes.
pub fn peak_resident_bytes() -> Option<u64> {
    kib_field(
        &std::fs::read_to_string("/proc/self/status").ok()?,
        "VmHWM:",
    )
}

/// Memory the machine can still give without swapping, bytes.
pub fn available_bytes() -> Option<u64> {
    kib_field(
        &std::fs::read_to_string("/proc/meminfo").ok()?,
        "MemAvailable:",
    )
}

/// A `NAME: N kB` line's value, in bytes.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(name))?;
    let kib = line[name.len()..]
        .split_whitespace()
        .next()?
        .parse::<u64>()
        .ok()?;
    Some(kib * 1024)
}

/// Hints that the cache line at `p` will be used soon (nothing off x86-64). Any address will
/// do: a prefetch never faults.
#[inline(always)]
pub fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_are_plausible_on_linux() {
        assert_eq!(kib_field("VmHWM:\t  2048 kB\n", "VmHWM:"), Some(2 << 20));
        if cfg!(target_os = "linux") {
            let (now, peak) = (resident_bytes().unwrap(), peak_resident_bytes().unwrap());
            assert!(now > 0 && peak >= now / 2, "{now} {peak}");
            assert!(available_bytes().unwrap() > 0);
        }
    }
}
