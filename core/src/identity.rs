//! Architecture identity: a hash of canonical bytes, stable across runs and platforms, so storing
//! the same architecture twice is a no-op.

use sha2::{Digest, Sha256};

/// The id of an architecture whose canonical form is `canonical`: the first 128 bits of its
/// SHA-256, in lowercase hex.
pub fn architecture_id(canonical: &[u8]) -> String {
    // Into a buffer, not through `hex::encode`'s iterator of chars (a quarter of an id's time).
    let mut hex = [0u8; 32];
    hex::encode_to_slice(&Sha256::digest(canonical)[..16], &mut hex).expect("32 hex digits");
    String::from_utf8(hex.to_vec()).expect("hex digits are ASCII")
}

/// SHA-256 of arbitrary bytes in lowercase hex (ONNX files are identified by it).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_stable() {
        // Pinned: a change here changes every stored id.
        assert_eq!(
            super::architecture_id(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223"
        );
    }
}
