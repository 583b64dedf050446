//! Reading files that someone else may have put in place: never through a
//! symbolic link, never from a FIFO or a device (a read could block the
//! server forever, or never end), never more than a stated bound.

use std::fs::{File, Metadata};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SafeReadError {
    #[error("{path} does not exist")]
    NotFound { path: PathBuf },
    #[error("{path} is a symbolic link, and links are not followed")]
    Symlink { path: PathBuf },
    #[error("{path} is not a regular file but a {kind}")]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error("{path} is {size} bytes, over the bound of {max} bytes ({bound})")]
    TooLarge {
        path: PathBuf,
        size: u64,
        max: u64,
        bound: &'static str,
    },
    #[error("cannot read {path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
}

/// Opens `path` for reading if it is a regular file, checked on the open
/// file itself (no window between the check and the read). `O_NONBLOCK`
/// makes opening a FIFO return at once instead of waiting for a writer.
pub fn open_regular(path: &Path) -> Result<(File, Metadata), SafeReadError> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let fd = rustix::fs::open(path, flags, Mode::empty()).map_err(|errno| {
        let path = path.to_path_buf();
        if errno == Errno::NOENT {
            SafeReadError::NotFound { path }
        } else if errno == Errno::LOOP {
            SafeReadError::Symlink { path }
        } else {
            SafeReadError::Io {
                path,
                error: std::io::Error::from(errno),
            }
        }
    })?;
    let file = File::from(fd);
    let metadata = file.metadata().map_err(|error| SafeReadError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    if !metadata.is_file() {
        return Err(SafeReadError::NotRegular {
            path: path.to_path_buf(),
            kind: kind_of(&metadata),
        });
    }
    Ok((file, metadata))
}

/// Reads a whole regular file of at most `max` bytes. `bound` names the
/// setting behind `max`, for the error.
pub fn read_regular(path: &Path, max: u64, bound: &'static str) -> Result<Vec<u8>, SafeReadError> {
    let (file, metadata) = open_regular(path)?;
    read_bounded(file, metadata.len(), path, max, bound)
}

/// Reads an open file of `len` bytes (as its metadata said), refusing it
/// if it is, or grows while read, past `max`.
pub fn read_bounded(
    file: File,
    len: u64,
    path: &Path,
    max: u64,
    bound: &'static str,
) -> Result<Vec<u8>, SafeReadError> {
    let too_large = |size| SafeReadError::TooLarge {
        path: path.to_path_buf(),
        size,
        max,
        bound,
    };
    if len > max {
        return Err(too_large(len));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|error| SafeReadError::Io {
            path: path.to_path_buf(),
            error,
        })?;
    if bytes.len() as u64 > max {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// What a path is, from metadata taken without following a link.
pub fn kind_of(metadata: &Metadata) -> &'static str {
    let t = metadata.file_type();
    if t.is_file() {
        "regular file"
    } else if t.is_dir() {
        "directory"
    } else if t.is_symlink() {
        "symbolic link"
    } else if t.is_fifo() {
        "FIFO"
    } else if t.is_char_device() || t.is_block_device() {
        "device"
    } else if t.is_socket() {
        "socket"
    } else {
        "special file"
    }
}

/// The effective user this process runs as.
pub fn effective_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Why `metadata` (of something this server keeps private) could be
/// changed by another user: owned by someone else, or writable by group
/// or others. `None` if only this process's user can change it.
pub fn writable_by_others(metadata: &Metadata) -> Option<String> {
    let me = effective_uid();
    if metadata.uid() != me {
        return Some(format!(
            "is owned by uid {}, not by this server's uid {me}",
            metadata.uid()
        ));
    }
    let mode = metadata.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Some(format!(
            "is writable by {} (mode {mode:04o})",
            if mode & 0o002 != 0 {
                "every user"
            } else {
                "its group"
            }
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_a_link_and_an_oversized_file_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, b"0123456789").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();

        assert!(matches!(
            read_regular(&fifo, 100, "test"),
            Err(SafeReadError::NotRegular { kind: "FIFO", .. })
        ));
        assert!(matches!(
            read_regular(&link, 100, "test"),
            Err(SafeReadError::Symlink { .. })
        ));
        assert!(matches!(
            read_regular(Path::new("/dev/zero"), 100, "test"),
            Err(SafeReadError::NotRegular { kind: "device", .. })
        ));
        let err = read_regular(&file, 9, "[x] max_bytes").unwrap_err();
        assert!(
            err.to_string()
                .contains("over the bound of 9 bytes ([x] max_bytes)"),
            "{err}"
        );
        assert_eq!(read_regular(&file, 10, "test").unwrap(), b"0123456789");
        assert!(matches!(
            read_regular(&dir.path().join("missing"), 10, "test"),
            Err(SafeReadError::NotFound { .. })
        ));
    }
}
