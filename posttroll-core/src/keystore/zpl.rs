//! ZPL certificate files exactly as pyzmq writes and reads them
//! (`zmq.auth.create_certificates`, `load_certificate`,
//! `load_certificates`).
//!
//! `NAME.key` holds the public key, `NAME.key_secret` both keys:
//!
//! ```text
//! #   ****  Generated on 2026-11-25 21:12:14.382045 by pyzmq  ****
//! #   ZeroMQ CURVE Public Certificate
//! #   Exchange securely, or use a secure mechanism to verify the contents
//! #   of this file after exchange. Store public certificates in your home
//! #   directory, in the .curve subdirectory.
//!
//! metadata
//! curve
//!     public-key = "{x%l9[U0bGS*6eyJE+Ua?m+=TjVq=zT[w$Kq[H%{"
//! ```
//!
//! Reading follows pyzmq: each line is trimmed; lines starting with `#`
//! are skipped; a line starting with `public-key` or `secret-key` gives
//! the text after its first `=`, with spaces, tabs and quotes stripped.
//! Unlike pyzmq, a key of the wrong length or alphabet is an error naming
//! the file here, not later in libzmq.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::Timelike;

use super::{decode_z85_key, KeyPair, PublicKey, SecretKey};
use crate::error::{Error, Result};

/// The suffix of public certificate files (`NAME.key`).
pub const PUBLIC_SUFFIX: &str = ".key";

/// The suffix of secret certificate files (`NAME.key_secret`).
pub const SECRET_SUFFIX: &str = ".key_secret";

const PUBLIC_BANNER: &str = "#   ZeroMQ CURVE Public Certificate
#   Exchange securely, or use a secure mechanism to verify the contents
#   of this file after exchange. Store public certificates in your home
#   directory, in the .curve subdirectory.

";

const SECRET_BANNER: &str = "#   ZeroMQ CURVE **Secret** Certificate
#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.

";

/// What one certificate file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    /// The public key (every certificate has one).
    pub public: PublicKey,
    /// The secret key, in `.key_secret` files.
    pub secret: Option<SecretKey>,
}

fn file_error(path: &Path, what: impl std::fmt::Display) -> Error {
    Error::Security(format!("certificate file {}: {what}", path.display()))
}

/// The value of a `name = value` line, stripped of spaces, tabs and quotes
/// as pyzmq strips it.
fn value_of(line: &[u8]) -> Option<&[u8]> {
    let eq = line.iter().position(|&b| b == b'=')?;
    let strip = |b: &u8| matches!(b, b' ' | b'\t' | b'\'' | b'"');
    let value = &line[eq + 1..];
    let start = value.iter().position(|b| !strip(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !strip(b))
        .map_or(start, |e| e + 1);
    Some(&value[start..end])
}

/// Parses certificate text; `path` is only for the errors.
///
/// # Errors
///
/// As [`read_certificate`].
pub fn parse_certificate(text: &[u8], path: &Path) -> Result<Certificate> {
    let mut public: Option<&[u8]> = None;
    let mut secret: Option<&[u8]> = None;
    for (number, line) in text.split(|&b| b == b'\n').enumerate() {
        let line = line.trim_ascii();
        if line.starts_with(b"#") {
            continue;
        }
        let slot = if line.starts_with(b"public-key") {
            &mut public
        } else if line.starts_with(b"secret-key") {
            &mut secret
        } else {
            continue;
        };
        let value = value_of(line).ok_or_else(|| {
            file_error(
                path,
                format!("line {} has no '=' before its key", number + 1),
            )
        })?;
        *slot = Some(value);
        if public.is_some() && secret.is_some() {
            break;
        }
    }
    let decode = |value: &[u8], which: &str| -> Result<[u8; 32]> {
        let text = std::str::from_utf8(value)
            .map_err(|_| file_error(path, format!("the {which} is not ASCII Z85 text")))?;
        decode_z85_key(text).map_err(|e| file_error(path, format!("the {which} is invalid: {e}")))
    };
    let public = public
        .ok_or_else(|| file_error(path, "no public key found (no `public-key = ...` line)"))?;
    Ok(Certificate {
        public: PublicKey(decode(public, "public-key")?),
        secret: secret
            .map(|s| decode(s, "secret-key").map(SecretKey))
            .transpose()?,
    })
}

/// Reads a certificate file (public or secret).
///
/// # Errors
///
/// [`Error::Security`] naming the file when it is missing or unreadable,
/// has no `public-key` line, or holds a key of the wrong length or
/// alphabet.
pub fn read_certificate(path: &Path) -> Result<Certificate> {
    let text = fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => file_error(path, "no such file"),
        _ => file_error(path, format!("cannot be read: {e}")),
    })?;
    parse_certificate(&text, path)
}

/// Loads a key pair from a secret certificate (`NAME.key_secret`).
///
/// # Errors
///
/// As [`read_certificate`], and when the file has no `secret-key` (a
/// public certificate given where a secret one is needed).
pub fn load_key_pair(path: &Path) -> Result<KeyPair> {
    let cert = read_certificate(path)?;
    match cert.secret {
        Some(secret) => Ok(KeyPair {
            public: cert.public,
            secret,
        }),
        None => Err(file_error(
            path,
            "no secret key found (no `secret-key = ...` line): give the .key_secret file",
        )),
    }
}

/// Loads the public key of a certificate, public or secret.
///
/// # Errors
///
/// As [`read_certificate`].
pub fn load_public_key(path: &Path) -> Result<PublicKey> {
    Ok(read_certificate(path)?.public)
}

/// The public keys of the `*.key` files of a folder, as pyzmq's
/// authenticator admits them (`load_certificates`), sorted and without
/// duplicates; and the errors of the files that could not be used (pyzmq
/// would fail on the first; skipping them keeps the good keys working).
///
/// # Errors
///
/// [`Error::Security`] naming the folder when it does not exist or cannot
/// be listed.
pub fn load_public_keys_in(dir: &Path) -> Result<(Vec<PublicKey>, Vec<Error>)> {
    let mut keys = Vec::new();
    let mut problems = Vec::new();
    for path in key_files_in(dir)? {
        match load_public_key(&path) {
            Ok(key) => keys.push(key),
            Err(e) => problems.push(e),
        }
    }
    keys.sort();
    keys.dedup();
    Ok((keys, problems))
}

/// The `*.key` files of a folder, sorted; as with Python's `glob`, names
/// starting with `.` are not matched.
///
/// # Errors
///
/// [`Error::Security`] naming the folder when it does not exist or cannot
/// be listed.
pub fn key_files_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = fs::read_dir(dir).map_err(|e| {
        Error::Security(format!(
            "clients_public_keys_directory {}: {}",
            dir.display(),
            match e.kind() {
                std::io::ErrorKind::NotFound => "no such folder".to_owned(),
                _ => format!("cannot be listed: {e}"),
            }
        ))
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok())
        .filter(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            name.ends_with(PUBLIC_SUFFIX) && !name.starts_with('.')
        })
        .map(|entry| entry.path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    Ok(files)
}

/// The first banner line, with pyzmq's timestamp (`str(datetime.now())`:
/// local time, microseconds only when non-zero).
fn generated_line() -> String {
    let now = chrono::Local::now().naive_local();
    let stamp = if now.nanosecond() / 1000 == 0 {
        now.format("%Y-%m-%d %H:%M:%S").to_string()
    } else {
        format!(
            "{}.{:06}",
            now.format("%Y-%m-%d %H:%M:%S"),
            now.nanosecond() / 1000 % 1_000_000
        )
    };
    format!("#   ****  Generated on {stamp} by pyzmq  ****\n")
}

/// The text of a public certificate, byte for byte as pyzmq writes it.
pub fn public_certificate_text(public: &PublicKey) -> String {
    format!(
        "{}{PUBLIC_BANNER}metadata\ncurve\n    public-key = \"{}\"\n",
        generated_line(),
        public.to_z85()
    )
}

/// The text of a secret certificate, byte for byte as pyzmq writes it.
pub fn secret_certificate_text(pair: &KeyPair) -> String {
    format!(
        "{}{SECRET_BANNER}metadata\ncurve\n    public-key = \"{}\"\n    secret-key = \"{}\"\n",
        generated_line(),
        pair.public.to_z85(),
        pair.secret.to_z85()
    )
}

/// Writes `text` to `path` (replacing it), through a temporary file created
/// with `mode` in the same folder and renamed into place, so the file never
/// exists with wider permissions nor half-written.
fn write_file(path: &Path, text: &str, mode: u32) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let name = path
        .file_name()
        .ok_or_else(|| file_error(path, "is not a file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = match dir {
        Some(dir) => dir.join(tmp_name),
        None => PathBuf::from(tmp_name),
    };
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let written = options.open(&tmp).and_then(|mut file| {
        file.write_all(text.as_bytes())?;
        file.sync_all()
    });
    let renamed = written.and_then(|()| fs::rename(&tmp, path));
    if let Err(e) = renamed {
        let _ = fs::remove_file(&tmp);
        return Err(file_error(path, format!("cannot be written: {e}")));
    }
    Ok(())
}

/// Writes a key pair as `DIR/NAME.key` (public, mode 0644 less the umask)
/// and `DIR/NAME.key_secret` (both keys, mode 0600 from its creation), as
/// pyzmq's `create_certificates`; returns the two paths (public, secret).
///
/// # Errors
///
/// [`Error::Security`] naming the file that cannot be written.
pub fn write_certificates(dir: &Path, name: &str, pair: &KeyPair) -> Result<(PathBuf, PathBuf)> {
    let public_file = dir.join(format!("{name}{PUBLIC_SUFFIX}"));
    let secret_file = dir.join(format!("{name}{SECRET_SUFFIX}"));
    write_file(&public_file, &public_certificate_text(&pair.public), 0o644)?;
    write_file(&secret_file, &secret_certificate_text(pair), 0o600)?;
    Ok((public_file, secret_file))
}

/// Generates a key pair and writes it with [`write_certificates`] (pyzmq's
/// `create_certificates`, the reference's `posttroll-generate-keys`).
///
/// # Errors
///
/// As [`KeyPair::generate`] and [`write_certificates`].
pub fn create_certificates(dir: &Path, name: &str) -> Result<(PathBuf, PathBuf)> {
    write_certificates(dir, name, &KeyPair::generate()?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const PUB: &str = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";

    #[test]
    fn parses_as_pyzmq() {
        let p = Path::new("x.key");
        let text =
            format!("# public-key = \"nope\"\nmetadata\ncurve\n\t public-key = '{PUB}' \r\n");
        let cert = parse_certificate(text.as_bytes(), p).unwrap();
        assert_eq!(cert.public.to_z85(), PUB);
        assert_eq!(cert.secret, None);
        let err = parse_certificate(b"metadata\ncurve\n", p)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("x.key") && err.contains("no public key"),
            "{err}"
        );
        let err = parse_certificate(b"public-key = \"abc\"", p)
            .unwrap_err()
            .to_string();
        assert!(err.contains("x.key") && err.contains("40 Z85"), "{err}");
        let err = parse_certificate(b"public-key \"abc\"", p)
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 1"), "{err}");
    }

    #[test]
    fn text_has_pyzmq_layout() {
        let pair = KeyPair::generate().unwrap();
        let text = secret_certificate_text(&pair);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("#   ****  Generated on ")
                && lines[0].ends_with(" by pyzmq  ****")
        );
        assert_eq!(lines[1], "#   ZeroMQ CURVE **Secret** Certificate");
        assert_eq!(&lines[3..6], &["", "metadata", "curve"]);
        assert_eq!(
            lines[6],
            format!("    public-key = \"{}\"", pair.public.to_z85())
        );
        assert_eq!(
            lines[7],
            format!("    secret-key = \"{}\"", pair.secret.to_z85())
        );
        assert_eq!(lines.len(), 8);
        let public = public_certificate_text(&pair.public);
        assert_eq!(public.lines().count(), 9);
        assert!(public.ends_with(&format!(
            "curve\n    public-key = \"{}\"\n",
            pair.public.to_z85()
        )));
    }
}
