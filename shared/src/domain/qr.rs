//! The QR code of an `otpauth://` URI as a standalone SVG, so that a client
//! can show it without a QR library of its own.

use qrcodegen::{QrCode, QrCodeEcc};

/// Modules of quiet zone around the code (ISO/IEC 18004 asks for four).
const QUIET_ZONE: i32 = 4;

/// `text` as an SVG QR code (medium error correction), one path of unit squares.
pub fn svg(text: &str) -> String {
    // A URI of ours is far below the largest version's capacity.
    let code = QrCode::encode_text(text, QrCodeEcc::Medium).expect("the text fits a QR code");
    let size = code.size();
    let full = size + 2 * QUIET_ZONE;
    let mut path = String::new();
    for y in 0..size {
        for x in 0..size {
            if code.get_module(x, y) {
                path.push_str(&format!("M{},{}h1v1h-1z", x + QUIET_ZONE, y + QUIET_ZONE));
            }
        }
    }
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {full} {full}\" \
         shape-rendering=\"crispEdges\"><rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\
         <path d=\"{path}\" fill=\"#000\"/></svg>"
    )
}
