//! AuthenTec AES3500 (`08ff:5731`): a 128×128 capacitive press sensor driven by register
//! writes on bulk EP 0x02, answering with one image transfer on bulk EP 0x81.

pub mod codec;
mod session;

pub use session::Aes3500;

pub const VENDOR_ID: u16 = 0x08ff;
pub const PRODUCT_ID: u16 = 0x5731;
/// Bulk OUT endpoint for register writes.
pub const EP_REGISTERS: u8 = 0x02;
/// Bulk IN endpoint for image data.
pub const EP_IMAGE: u8 = 0x81;
pub const NAME: &str = "AuthenTec AES3500";
pub const DRIVER: &str = "aes3500";
/// Resolution of the 256×256 image [`Aes3500`] delivers. The sensor sends 4-bit grey, which
/// AuthenTec's sibling chips (AES2501) document as their 250 ppi format; the 2× enlargement
/// brings it to 500 ppi.
pub const PPI: u16 = 500;
