//! Reading chart archives without trusting them.
//!
//! Archives are read in memory, never extracted. Every entry is checked
//! before its bytes are read, and decompression stops as soon as a size limit
//! is passed, so a gzip bomb cannot exhaust memory.

use std::collections::BTreeSet;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::chart::{ChartFile, Files, MAX_FILE_SIZE, MAX_TOTAL_SIZE};

/// Why an archive was refused.
#[derive(Debug, thiserror::Error)]
#[error("{archive}: {problem}")]
pub struct ArchiveError {
    /// The archive.
    pub archive: PathBuf,
    /// What is wrong, in one line.
    pub problem: String,
}

fn refuse(archive: &Path, problem: impl Into<String>) -> ArchiveError {
    ArchiveError {
        archive: archive.to_path_buf(),
        problem: problem.into(),
    }
}

/// Reads an archive file, refusing one larger than the decompressed limit
/// (a compressed archive is never larger than what it unpacks to, plus a
/// little framing).
pub fn read_limited(path: &Path) -> Result<Vec<u8>, ArchiveError> {
    let f = std::fs::File::open(path).map_err(|e| refuse(path, e.to_string()))?;
    let mut out = Vec::new();
    f.take(MAX_TOTAL_SIZE + 1)
        .read_to_end(&mut out)
        .map_err(|e| refuse(path, e.to_string()))?;
    if out.len() as u64 > MAX_TOTAL_SIZE {
        return Err(refuse(
            path,
            format!("archive is larger than {MAX_TOTAL_SIZE} bytes"),
        ));
    }
    Ok(out)
}

/// Counts decompressed bytes and fails once `limit` is passed.
struct Limited<R> {
    inner: R,
    read: u64,
    limit: u64,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.limit {
            return Err(io::Error::other(LIMIT_MARKER));
        }
        Ok(n)
    }
}

const LIMIT_MARKER: &str = "windlass: decompressed size limit passed";

fn io_problem(e: &io::Error) -> String {
    if e.to_string().contains(LIMIT_MARKER) {
        format!("archive decompresses to more than {MAX_TOTAL_SIZE} bytes (refused before unpacking further)")
    } else if e.kind() == io::ErrorKind::UnexpectedEof {
        "archive is truncated".to_string()
    } else {
        format!("archive is corrupt: {e}")
    }
}

/// Reads a gzip-compressed tar archive of a chart into a file map keyed by
/// path relative to the chart's single top directory.
pub fn read_archive(bytes: &[u8], origin: &Path) -> Result<Files, ArchiveError> {
    if bytes.len() < 2 || bytes[0] != 0x1f || bytes[1] != 0x8b {
        return Err(refuse(origin, "not a gzip-compressed archive (.tgz)"));
    }
    let decoder = flate2::read::GzDecoder::new(bytes);
    // Tar headers count towards the limit too; allow them some room.
    let limited = Limited {
        inner: decoder,
        read: 0,
        limit: MAX_TOTAL_SIZE + 1024 * 1024,
    };
    let mut archive = tar::Archive::new(limited);
    let mut files = Files::new();
    let mut seen = BTreeSet::new();
    let mut top: Option<String> = None;
    let mut total: u64 = 0;
    let entries = archive
        .entries()
        .map_err(|e| refuse(origin, io_problem(&e)))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| refuse(origin, io_problem(&e)))?;
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8(raw).map_err(|_| refuse(origin, "entry name is not UTF-8"))?;
        let kind = entry.header().entry_type();
        let what = |p: &str| refuse(origin, format!("entry `{name}`: {p}"));
        if name.starts_with('/') || name.starts_with('\\') || name.contains(":\\") {
            return Err(what("absolute paths are not allowed"));
        }
        let parts: Vec<&str> = name.split('/').filter(|p| !p.is_empty()).collect();
        if parts
            .iter()
            .any(|p| *p == ".." || *p == "." || p.contains('\\'))
        {
            return Err(what("`..`, `.` and `\\` are not allowed in paths"));
        }
        if kind.is_symlink() {
            return Err(what("symbolic links are not allowed"));
        }
        if kind.is_hard_link() {
            return Err(what("hard links are not allowed"));
        }
        if kind.is_character_special() || kind.is_block_special() || kind.is_fifo() {
            return Err(what("device files and FIFOs are not allowed"));
        }
        let Some(first) = parts.first() else {
            return Err(what("empty path"));
        };
        match &top {
            None => top = Some(first.to_string()),
            Some(t) if t != first => {
                return Err(what(&format!(
                    "outside the archive's single top directory `{t}/`"
                )))
            }
            Some(_) => {}
        }
        if kind.is_dir() {
            continue;
        }
        if !(kind.is_file() || kind == tar::EntryType::Continuous) {
            return Err(what(&format!("unsupported entry type {kind:?}")));
        }
        if parts.len() < 2 {
            return Err(what("files must sit inside the chart's top directory"));
        }
        let rel = parts[1..].join("/");
        if !seen.insert(rel.clone()) {
            return Err(what("duplicate entry"));
        }
        let size = entry.header().size().map_err(|e| what(&e.to_string()))?;
        if size > MAX_FILE_SIZE {
            return Err(what(&format!(
                "file is {size} bytes; a chart file may be at most {MAX_FILE_SIZE} bytes"
            )));
        }
        total += size;
        if total > MAX_TOTAL_SIZE {
            return Err(refuse(
                origin,
                format!("files add up to more than {MAX_TOTAL_SIZE} bytes"),
            ));
        }
        let mode = entry.header().mode().unwrap_or(0o644);
        let mut data = Vec::with_capacity(size as usize);
        (&mut entry)
            .take(MAX_FILE_SIZE + 1)
            .read_to_end(&mut data)
            .map_err(|e| refuse(origin, io_problem(&e)))?;
        if data.len() as u64 != size {
            return Err(refuse(origin, "archive is truncated"));
        }
        files.insert(
            rel,
            ChartFile {
                data,
                executable: mode & 0o111 != 0,
            },
        );
    }
    // Drain what follows the last entry so a truncated gzip stream or a bad
    // checksum is noticed.
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(|e| refuse(origin, io_problem(&e)))?;
    if files.is_empty() {
        return Err(refuse(origin, "archive holds no files"));
    }
    Ok(files)
}
