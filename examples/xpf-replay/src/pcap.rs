//! A small pcap / pcapng reader and a pcap writer (Ethernet link type only).
//!
//! Reading accepts classic pcap in either byte order with microsecond or
//! nanosecond timestamps, and pcapng (section header, interface
//! description with `if_tsresol`, enhanced and simple packet blocks; other
//! blocks are skipped). Writing produces classic pcap with nanosecond
//! timestamps.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Ethernet (`LINKTYPE_ETHERNET`).
pub const LINKTYPE_ETHERNET: u32 = 1;

/// Why a capture could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum PcapError {
    /// File I/O failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not a capture this reader understands.
    #[error("{path}: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// One captured frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    /// Capture time, ns since the Unix epoch.
    pub ts_ns: u64,
    /// The Ethernet frame as captured.
    pub data: Vec<u8>,
}

fn format_err(path: &Path, reason: impl Into<String>) -> PcapError {
    PcapError::Format {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Reads every frame of a pcap or pcapng file.
pub fn read(path: &Path) -> Result<Vec<Packet>, PcapError> {
    let bytes = std::fs::read(path).map_err(|source| PcapError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if bytes.len() >= 4 && bytes[0..4] == [0x0a, 0x0d, 0x0d, 0x0a] {
        read_pcapng(path, &bytes)
    } else {
        read_pcap(path, &bytes)
    }
}

fn u32_at(b: &[u8], at: usize, le: bool) -> Option<u32> {
    let s: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(if le {
        u32::from_le_bytes(s)
    } else {
        u32::from_be_bytes(s)
    })
}

fn read_pcap(path: &Path, b: &[u8]) -> Result<Vec<Packet>, PcapError> {
    let magic = u32_at(b, 0, true).ok_or_else(|| format_err(path, "shorter than a pcap header"))?;
    let (le, nanos) = match magic {
        0xa1b2_c3d4 => (true, false),
        0xa1b2_3c4d => (true, true),
        0xd4c3_b2a1 => (false, false),
        0x4d3c_b2a1 => (false, true),
        _ => return Err(format_err(path, "not a pcap or pcapng file")),
    };
    let linktype = u32_at(b, 20, le).ok_or_else(|| format_err(path, "truncated pcap header"))?;
    if linktype & 0xffff != LINKTYPE_ETHERNET {
        return Err(format_err(
            path,
            format!("link type {linktype} is not Ethernet"),
        ));
    }
    let mut out = Vec::new();
    let mut at = 24;
    while at < b.len() {
        let rec = |o| u32_at(b, at + o, le).ok_or_else(|| format_err(path, "truncated record"));
        let (secs, frac, caplen) = (rec(0)?, rec(4)?, rec(8)? as usize);
        let data = b
            .get(at + 16..at + 16 + caplen)
            .ok_or_else(|| format_err(path, "truncated packet data"))?;
        let frac_ns = if nanos {
            u64::from(frac)
        } else {
            u64::from(frac) * 1000
        };
        out.push(Packet {
            ts_ns: u64::from(secs) * 1_000_000_000 + frac_ns,
            data: data.to_vec(),
        });
        at += 16 + caplen;
    }
    Ok(out)
}

fn read_pcapng(path: &Path, b: &[u8]) -> Result<Vec<Packet>, PcapError> {
    let mut out = Vec::new();
    let mut le = true;
    // Per interface: ticks per second.
    let mut resolutions: Vec<u64> = Vec::new();
    let mut at = 0;
    while at + 12 <= b.len() {
        if b[at..at + 4] == [0x0a, 0x0d, 0x0d, 0x0a] {
            le = match b.get(at + 8..at + 12) {
                Some([0x4d, 0x3c, 0x2b, 0x1a]) => true,
                Some([0x1a, 0x2b, 0x3c, 0x4d]) => false,
                _ => return Err(format_err(path, "bad pcapng byte-order magic")),
            };
            resolutions.clear();
        }
        let kind = u32_at(b, at, le).ok_or_else(|| format_err(path, "truncated block"))?;
        let len =
            u32_at(b, at + 4, le).ok_or_else(|| format_err(path, "truncated block"))? as usize;
        if len < 12 || at + len > b.len() {
            return Err(format_err(path, format!("bad block length {len}")));
        }
        let body = &b[at + 8..at + len - 4];
        match kind {
            1 => {
                let raw = [body[0], body[1]];
                let linktype = u32::from(if le {
                    u16::from_le_bytes(raw)
                } else {
                    u16::from_be_bytes(raw)
                });
                if linktype != LINKTYPE_ETHERNET {
                    return Err(format_err(
                        path,
                        format!("interface link type {linktype} is not Ethernet"),
                    ));
                }
                resolutions.push(tsresol(&body[8..], le));
            }
            6 => {
                let iface = u32_at(body, 0, le).unwrap_or(0) as usize;
                let hi = u64::from(u32_at(body, 4, le).unwrap_or(0));
                let lo = u64::from(u32_at(body, 8, le).unwrap_or(0));
                let caplen = u32_at(body, 12, le).unwrap_or(0) as usize;
                let data = body
                    .get(20..20 + caplen)
                    .ok_or_else(|| format_err(path, "truncated enhanced packet block"))?;
                let per_sec = resolutions.get(iface).copied().unwrap_or(1_000_000);
                let ticks = (hi << 32) | lo;
                let ts_ns = (u128::from(ticks) * 1_000_000_000 / u128::from(per_sec)) as u64;
                out.push(Packet {
                    ts_ns,
                    data: data.to_vec(),
                });
            }
            3 => {
                let orig = u32_at(body, 0, le).unwrap_or(0) as usize;
                let data = &body[4..(4 + orig).min(body.len())];
                let ts_ns = out.last().map_or(0, |p: &Packet| p.ts_ns);
                out.push(Packet {
                    ts_ns,
                    data: data.to_vec(),
                });
            }
            _ => {}
        }
        at += len;
    }
    Ok(out)
}

/// Ticks per second from an interface description's options.
fn tsresol(mut opts: &[u8], le: bool) -> u64 {
    while opts.len() >= 4 {
        let rd = |i: usize| {
            let v = [opts[i], opts[i + 1]];
            if le {
                u16::from_le_bytes(v)
            } else {
                u16::from_be_bytes(v)
            }
        };
        let (code, len) = (rd(0), rd(2) as usize);
        if code == 0 {
            break;
        }
        if code == 9 && len >= 1 && opts.len() > 4 {
            let r = opts[4];
            return if r & 0x80 != 0 {
                1u64 << (r & 0x7f).min(63)
            } else {
                10u64.pow(u32::from(r).min(19))
            };
        }
        let padded = 4 + len.div_ceil(4) * 4;
        if padded > opts.len() {
            break;
        }
        opts = &opts[padded..];
    }
    1_000_000
}

/// Writes classic pcap with nanosecond timestamps.
pub struct Writer {
    path: PathBuf,
    out: BufWriter<File>,
    frames: usize,
}

impl Writer {
    /// Creates `path` and writes the file header.
    pub fn create(path: &Path) -> Result<Self, PcapError> {
        let io = |source| PcapError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut out = BufWriter::new(File::create(path).map_err(io)?);
        let mut h = Vec::with_capacity(24);
        h.extend_from_slice(&0xa1b2_3c4du32.to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&0i32.to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes());
        h.extend_from_slice(&65_535u32.to_le_bytes());
        h.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        out.write_all(&h).map_err(io)?;
        Ok(Self {
            path: path.to_path_buf(),
            out,
            frames: 0,
        })
    }

    /// Appends one frame.
    pub fn write(&mut self, ts_ns: u64, data: &[u8]) -> Result<(), PcapError> {
        let mut r = Vec::with_capacity(16 + data.len());
        r.extend_from_slice(&((ts_ns / 1_000_000_000) as u32).to_le_bytes());
        r.extend_from_slice(&((ts_ns % 1_000_000_000) as u32).to_le_bytes());
        r.extend_from_slice(&(data.len() as u32).to_le_bytes());
        r.extend_from_slice(&(data.len() as u32).to_le_bytes());
        r.extend_from_slice(data);
        self.out.write_all(&r).map_err(|source| PcapError::Io {
            path: self.path.clone(),
            source,
        })?;
        self.frames += 1;
        Ok(())
    }

    /// Flushes and closes the file.
    pub fn finish(mut self) -> Result<usize, PcapError> {
        self.out.flush().map_err(|source| PcapError::Io {
            path: self.path.clone(),
            source,
        })?;
        Ok(self.frames)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_pcap_reads_back() {
        let dir = std::env::temp_dir().join(format!("xpf-pcap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.pcap");
        let mut w = Writer::create(&path).unwrap();
        w.write(1_700_000_000_123_456_789, &[1, 2, 3]).unwrap();
        w.write(1_700_000_001_000_000_000, &[4; 60]).unwrap();
        assert_eq!(w.finish().unwrap(), 2);
        let got = read(&path).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].ts_ns, 1_700_000_000_123_456_789);
        assert_eq!(got[1].data, vec![4; 60]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn pcapng_enhanced_packets_read_with_their_resolution() {
        let mut b = Vec::new();
        let block = |b: &mut Vec<u8>, kind: u32, body: &[u8]| {
            let len = (12 + body.len()) as u32;
            b.extend_from_slice(&kind.to_le_bytes());
            b.extend_from_slice(&len.to_le_bytes());
            b.extend_from_slice(body);
            b.extend_from_slice(&len.to_le_bytes());
        };
        let mut shb = Vec::new();
        shb.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
        shb.extend_from_slice(&[1, 0, 0, 0]);
        shb.extend_from_slice(&(-1i64).to_le_bytes());
        block(&mut b, 0x0a0d_0d0a, &shb);
        let mut idb = Vec::new();
        idb.extend_from_slice(&1u16.to_le_bytes());
        idb.extend_from_slice(&[0, 0]);
        idb.extend_from_slice(&65535u32.to_le_bytes());
        idb.extend_from_slice(&[9, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0]); // tsresol 10^-9
        block(&mut b, 1, &idb);
        let ts: u64 = 1_700_000_000_000_000_042;
        let mut epb = Vec::new();
        epb.extend_from_slice(&0u32.to_le_bytes());
        epb.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(ts as u32).to_le_bytes());
        epb.extend_from_slice(&4u32.to_le_bytes());
        epb.extend_from_slice(&4u32.to_le_bytes());
        epb.extend_from_slice(&[9, 8, 7, 6]);
        block(&mut b, 6, &epb);
        let got = read_pcapng(Path::new("mem"), &b).unwrap();
        assert_eq!(
            got,
            vec![Packet {
                ts_ns: ts,
                data: vec![9, 8, 7, 6]
            }]
        );
    }
}
