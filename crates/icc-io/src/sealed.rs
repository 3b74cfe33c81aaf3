//! Files sealed with the data folder's key: XChaCha20-Poly1305 in the STREAM construction
//! (RustCrypto `aead-stream`, 32-bit big-endian counter), 64 KiB plaintext chunks, so a file
//! of any size is encrypted and checked with bounded memory and a truncated, reordered or
//! altered file is refused rather than read.
//!
//! Layout: `MAGIC` (8 bytes, also the associated data of every chunk), a random 19-byte
//! nonce prefix, then the chunks, each its ciphertext and 16-byte tag; the last chunk is
//! sealed as last, so cutting the file at a chunk boundary is caught too.

use std::io::{BufRead, BufReader, Read, Write};

use aead_stream::{DecryptorBE32, EncryptorBE32};
use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::Payload;

/// First bytes of a sealed file (a plain PDF starts `%PDF`, an XML `<` or a BOM).
pub const MAGIC: &[u8; 8] = b"ICCSEAL1";
const NONCE_LEN: usize = 19;
const CHUNK: usize = 64 * 1024;
const TAG: usize = 16;

/// A 256-bit key for sealed files (derived from the data folder's key). Never printed and
/// wiped when dropped.
#[derive(Clone)]
pub struct FileKey(pub [u8; 32]);

impl Drop for FileKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl std::fmt::Debug for FileKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FileKey(***)")
    }
}

/// Why a sealed file could not be written or opened.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// Reading or writing failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The content does not authenticate: another key, or the file was altered or cut.
    #[error(
        "el archivo cifrado no se pudo verificar (otra clave, o el archivo fue alterado o quedó incompleto)"
    )]
    Forged,
}

/// Whether `head` (the first bytes of a file) is a sealed file.
pub fn is_sealed(head: &[u8]) -> bool {
    head.starts_with(MAGIC)
}

/// Fills `buf` from `r` as far as it goes; returns how many bytes were read (less than
/// `buf.len()` only at the end of the input).
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The one way sealing fails: more chunks than the 32-bit counter numbers (256 TiB).
fn too_long() -> SealError {
    SealError::Io(std::io::Error::other(
        "el archivo es demasiado grande para cifrarlo (más de 256 TiB)",
    ))
}

/// Seals everything `input` yields into `out`.
///
/// # Errors
/// Reading `input` or writing `out` failed.
pub fn seal(key: &FileKey, input: &mut impl Read, out: &mut impl Write) -> Result<(), SealError> {
    let mut nonce = [0u8; NONCE_LEN];
    rand::fill(&mut nonce);
    let mut enc = EncryptorBE32::<XChaCha20Poly1305>::new(&key.0.into(), &nonce.into());
    out.write_all(MAGIC)?;
    out.write_all(&nonce)?;
    let mut input = BufReader::with_capacity(CHUNK, input);
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = read_full(&mut input, &mut buf)?;
        // the chunk is the last when nothing follows it
        let last = n < CHUNK || input.fill_buf()?.is_empty();
        let payload = Payload {
            msg: &buf[..n],
            aad: MAGIC,
        };
        if last {
            let sealed = enc.encrypt_last(payload).map_err(|_| too_long())?;
            out.write_all(&sealed)?;
            break;
        }
        let sealed = enc.encrypt_next(payload).map_err(|_| too_long())?;
        out.write_all(&sealed)?;
    }
    out.flush()?;
    Ok(())
}

/// Opens a sealed file from `input` (its magic included) into `out`. Nothing is written to
/// `out` from a chunk that does not authenticate, but earlier chunks are: write to a
/// temporary file and keep it only on `Ok`.
///
/// # Errors
/// [`SealError::Forged`] for anything that does not authenticate (another key, a bit
/// changed, chunks reordered, the file cut or not sealed at all); I/O errors.
pub fn open(key: &FileKey, input: &mut impl Read, out: &mut impl Write) -> Result<(), SealError> {
    let mut head = [0u8; MAGIC.len() + NONCE_LEN];
    if read_full(input, &mut head)? < head.len() || !is_sealed(&head) {
        return Err(SealError::Forged);
    }
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&head[MAGIC.len()..]);
    let mut dec = DecryptorBE32::<XChaCha20Poly1305>::new(&key.0.into(), &nonce.into());
    let mut input = BufReader::with_capacity(CHUNK + TAG, input);
    let mut buf = vec![0u8; CHUNK + TAG];
    loop {
        let n = read_full(&mut input, &mut buf)?;
        let last = n < CHUNK + TAG || input.fill_buf()?.is_empty();
        let payload = Payload {
            msg: &buf[..n],
            aad: MAGIC,
        };
        if last {
            let plain = dec.decrypt_last(payload).map_err(|_| SealError::Forged)?;
            out.write_all(&plain)?;
            break;
        }
        let plain = dec.decrypt_next(payload).map_err(|_| SealError::Forged)?;
        out.write_all(&plain)?;
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> FileKey {
        FileKey([b; 32])
    }

    fn sealed(k: &FileKey, plain: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        seal(k, &mut &plain[..], &mut out).unwrap();
        out
    }

    fn opened(k: &FileKey, data: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut out = Vec::new();
        open(k, &mut &data[..], &mut out).map(|()| out)
    }

    #[test]
    fn every_size_round_trips_and_hides_the_content() {
        let k = key(1);
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 17] {
            let plain: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let s = sealed(&k, &plain);
            assert!(is_sealed(&s));
            let chunks = len.div_ceil(CHUNK).max(1);
            assert_eq!(
                s.len(),
                MAGIC.len() + NONCE_LEN + len + chunks * TAG,
                "len {len}"
            );
            assert_eq!(opened(&k, &s).unwrap(), plain, "len {len}");
        }
        let s = sealed(&k, b"%PDF-1.7 76369187-K folio 4711");
        assert!(!s.windows(10).any(|w| w == b"76369187-K"));
        // a random nonce: the same file twice seals differently
        assert_ne!(s, sealed(&k, b"%PDF-1.7 76369187-K folio 4711"));
    }

    #[test]
    fn another_key_a_flipped_bit_or_a_cut_file_is_refused() {
        let k = key(1);
        let plain: Vec<u8> = (0..2 * CHUNK + 5).map(|i| i as u8).collect();
        let s = sealed(&k, &plain);
        assert!(matches!(opened(&key(2), &s), Err(SealError::Forged)));
        for at in [0, 9, MAGIC.len() + NONCE_LEN + 3, s.len() - 1] {
            let mut bad = s.clone();
            bad[at] ^= 0x40;
            assert!(opened(&k, &bad).is_err(), "flip at {at}");
        }
        // cut at a chunk boundary: the new last chunk was not sealed as last
        let boundary = MAGIC.len() + NONCE_LEN + CHUNK + TAG;
        assert!(matches!(opened(&k, &s[..boundary]), Err(SealError::Forged)));
        assert!(opened(&k, &s[..s.len() - 1]).is_err());
        assert!(opened(&k, &s[..5]).is_err());
        assert!(opened(&k, b"%PDF-1.7 plain").is_err());
        // two chunks swapped
        let mut swapped = s[..MAGIC.len() + NONCE_LEN].to_vec();
        let c = &s[MAGIC.len() + NONCE_LEN..];
        swapped.extend_from_slice(&c[CHUNK + TAG..2 * (CHUNK + TAG)]);
        swapped.extend_from_slice(&c[..CHUNK + TAG]);
        swapped.extend_from_slice(&c[2 * (CHUNK + TAG)..]);
        assert!(opened(&k, &swapped).is_err());
    }
}
