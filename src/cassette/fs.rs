//! Opening cassette files safely: only regular files, never blocking on a
//! FIFO, and, for the files the recorder writes, never through a link.
//!
//! Readers (replay, schema-check) follow links: a cassette may be a link
//! to a shared file, and reading it changes nothing. The recorder does not
//! follow a link for any file it writes or reads in order to write
//! (journal, merge files, lock files, temp files, the cassette it
//! rewrites): a link planted in the cassette folder could otherwise make
//! it append to, or import, a file outside the folder.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

/// Whether the last component of a path may be a symbolic link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    /// Readers: a link is followed to its target.
    Follow,
    /// The recorder: a link is refused (`O_NOFOLLOW`).
    Refuse,
}

/// Opens `path` read-only, and only if it is a regular file: a FIFO would
/// block the reader forever and a device read without end, so the open
/// does not block (`O_NONBLOCK`) and the handle is checked with `fstat`.
/// Errors name what the path is instead.
pub fn open_regular(path: &Path, links: Links) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true);
    open_checked(&mut options, path, links)
}

/// Opens `path` with `options` plus the safety flags, then checks that the
/// handle is a regular file. `options` decide access and creation.
pub fn open_checked(options: &mut OpenOptions, path: &Path, links: Links) -> io::Result<File> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let nofollow = match links {
            Links::Follow => 0,
            Links::Refuse => libc::O_NOFOLLOW,
        };
        // Regular files ignore O_NONBLOCK; it only keeps a FIFO from
        // blocking the open.
        options.custom_flags(libc::O_NONBLOCK | nofollow);
    }
    let file = options
        .open(path)
        .map_err(|err| explain_open_error(err, path, links))?;
    let file_type = file.metadata()?.file_type();
    if !file_type.is_file() {
        return Err(not_regular(describe(&file_type)));
    }
    Ok(file)
}

/// `O_NOFOLLOW` on a link fails with `ELOOP`, whose text ("too many
/// levels of symbolic links") would mislead.
fn explain_open_error(err: io::Error, path: &Path, links: Links) -> io::Error {
    #[cfg(unix)]
    if links == Links::Refuse
        && err.raw_os_error() == Some(libc::ELOOP)
        && std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
    {
        return not_regular("a symbolic link");
    }
    let _ = (path, links);
    err
}

/// The error for a path that is not a regular file; the caller names the
/// path.
pub fn not_regular(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "it is {what}, not a regular file; datovcr only reads and writes regular files{}",
            if what == "a symbolic link" {
                " and never follows a link for a file it writes"
            } else {
                ""
            }
        ),
    )
}

/// What a file system node is, for messages: "a directory", "a FIFO", …
pub fn describe(file_type: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO";
        }
        if file_type.is_socket() {
            return "a socket";
        }
        if file_type.is_block_device() || file_type.is_char_device() {
            return "a device";
        }
    }
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_symlink() {
        "a symbolic link"
    } else if file_type.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_open_and_links_only_when_followed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        let fifo = dir.path().join("fifo");
        let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path; mkfifo has no other precondition.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);

        assert!(open_regular(&file, Links::Refuse).is_ok());
        assert!(open_regular(&link, Links::Follow).is_ok());
        let refused = open_regular(&link, Links::Refuse).unwrap_err().to_string();
        assert!(refused.contains("is a symbolic link"), "{refused}");
        // Returns at once instead of waiting for a writer.
        let fifo_err = open_regular(&fifo, Links::Follow).unwrap_err().to_string();
        assert!(fifo_err.contains("is a FIFO"), "{fifo_err}");
        let dir_err = open_regular(dir.path(), Links::Follow)
            .unwrap_err()
            .to_string();
        assert!(dir_err.contains("is a directory"), "{dir_err}");
    }
}
