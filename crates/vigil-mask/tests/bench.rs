//! A tiny timing of the hot path, ignored by default. Run it optimised:
//! `cargo test -p vigil-mask --release --test bench -- --ignored --nocapture`

use std::hint::black_box;
use std::time::Instant;

use vigil_mask::{Detector, MaskKey, Masker, Style};

fn ns_per_scan(m: &Masker, text: &[u8]) -> f64 {
    let iterations = 1_000_000u32;
    for _ in 0..10_000 {
        black_box(m.scan(black_box(text)));
    }
    let start = Instant::now();
    for _ in 0..iterations {
        black_box(m.scan(black_box(text)));
    }
    start.elapsed().as_nanos() as f64 / f64::from(iterations)
}

#[test]
#[ignore = "timing; run with --release -- --ignored --nocapture"]
fn scan_timing() {
    let m = Masker::new(&Detector::ALL, Style::Redact, MaskKey::new([3; 32]));
    let long = "lorem ipsum dolor sit amet, ".repeat(37);
    let cases: [(&str, &[u8]); 5] = [
        (
            "40-byte clean prose",
            b"The quick brown fox jumps over a lazy do",
        ),
        (
            "40-byte clean with digits",
            b"order 42 shipped 2024-01-15 for 19.99 US",
        ),
        ("one email", b"please write to john.doe@example.com now"),
        ("one card", b"paid with 4111 1111 1111 1111 yesterday"),
        ("clean 1 KiB", long.as_bytes()),
    ];
    for (name, text) in cases {
        let hit = m.scan(text).is_some();
        println!(
            "{name:>26} ({} bytes, hit: {hit}): {:.0} ns/scan",
            text.len(),
            ns_per_scan(&m, text)
        );
    }
    let hash = Masker::new(&Detector::ALL, Style::Hash, MaskKey::new([3; 32]));
    println!(
        "{:>26}: {:.0} ns/scan",
        "one email, hash style",
        ns_per_scan(&hash, b"please write to john.doe@example.com now")
    );
}

#[test]
#[ignore = "timing; run with --release -- --ignored --nocapture"]
fn scan_timing_per_detector() {
    let texts: [&[u8]; 3] = [
        b"The quick brown fox jumps over a lazy do",
        b"order 42 shipped 2024-01-15 for 19.99 US",
        b"please write to john.doe@example.com now",
    ];
    for d in Detector::ALL {
        let m = Masker::new(&[d], Style::Redact, MaskKey::new([3; 32]));
        let ns: Vec<String> = texts
            .iter()
            .map(|t| format!("{:>5.0}", ns_per_scan(&m, t)))
            .collect();
        println!(
            "{:>16}: {} ns/scan (prose, digits, email)",
            d.as_str(),
            ns.join(" ")
        );
    }
}
