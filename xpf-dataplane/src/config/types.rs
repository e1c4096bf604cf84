//! Small value types used across the config model: port ranges, MAC
//! addresses, times of day, calendar dates and TCP flag expressions.
//!
//! Each parses from the string form an operator would type (`"1024-65535"`,
//! `"00:11:22:33:44:55"`, `"08:30"`, `"2026-12-24"`, `"syn & !ack"`) and
//! serialises back to it, so configs round-trip through TOML and JSON.
//! Syntax errors surface at load time with the field path; semantic checks
//! (e.g. `low <= high`) are left to validation so every such error is
//! collected, not just the first.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Implements `Serialize`/`Deserialize` through `Display`/`FromStr`.
macro_rules! serde_via_str {
    ($t:ty, $expecting:literal) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl serde::de::Visitor<'_> for V {
                    type Value = $t;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$t, E> {
                        v.parse().map_err(E::custom)
                    }
                    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<$t, E> {
                        v.to_string().parse().map_err(E::custom)
                    }
                    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<$t, E> {
                        v.to_string().parse().map_err(E::custom)
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}

/// An inclusive port range. `"80"` or `80` is the range 80-80.
///
/// A range with `low > high` deserialises (so validation can report it with
/// its path alongside every other error) but is rejected by validation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortRange {
    /// Lowest port, inclusive.
    pub low: u16,
    /// Highest port, inclusive.
    pub high: u16,
}

impl PortRange {
    /// Every port.
    pub const ANY: Self = Self {
        low: 0,
        high: 65535,
    };

    /// A single port.
    pub const fn single(port: u16) -> Self {
        Self {
            low: port,
            high: port,
        }
    }

    /// A range `low..=high`.
    pub const fn new(low: u16, high: u16) -> Self {
        Self { low, high }
    }

    /// True when `low <= high`.
    pub fn is_valid(&self) -> bool {
        self.low <= self.high
    }

    /// True when `port` is inside the range.
    pub fn contains(&self, port: u16) -> bool {
        self.low <= port && port <= self.high
    }

    /// Number of ports in the range (0 if invalid).
    pub fn len(&self) -> u32 {
        if self.is_valid() {
            u32::from(self.high) - u32::from(self.low) + 1
        } else {
            0
        }
    }

    /// True when the range is invalid and so holds no port.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.low == self.high {
            write!(f, "{}", self.low)
        } else {
            write!(f, "{}-{}", self.low, self.high)
        }
    }
}

impl FromStr for PortRange {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let parse = |p: &str| {
            p.trim()
                .parse::<u16>()
                .map_err(|_| format!("invalid port {p:?} in {s:?} (expected 0-65535)"))
        };
        match s.split_once('-') {
            Some((a, b)) => Ok(Self {
                low: parse(a)?,
                high: parse(b)?,
            }),
            None => parse(s).map(Self::single),
        }
    }
}

serde_via_str!(PortRange, "a port (80) or port range (\"1024-65535\")");

/// An Ethernet MAC address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// The broadcast address.
    pub const BROADCAST: Self = Self([0xff; 6]);

    /// True for the all-zeros address.
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 6]
    }

    /// True for multicast (and broadcast) addresses.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl FromStr for MacAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split([':', '-']).collect();
        if parts.len() != 6 {
            return Err(format!(
                "invalid MAC address {s:?} (expected six hex octets like 02:00:00:00:00:01)"
            ));
        }
        let mut out = [0u8; 6];
        for (o, p) in out.iter_mut().zip(&parts) {
            if p.len() != 2 {
                return Err(format!("invalid MAC address {s:?}: octet {p:?}"));
            }
            *o = u8::from_str_radix(p, 16)
                .map_err(|_| format!("invalid MAC address {s:?}: octet {p:?}"))?;
        }
        Ok(Self(out))
    }
}

serde_via_str!(MacAddr, "a MAC address like \"02:00:00:00:00:01\"");

/// A time of day, minute resolution, `"HH:MM"`. `"24:00"` is allowed as the
/// end of a window (end of day).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimeOfDay {
    /// Minutes since midnight, 0..=1440.
    pub minutes: u16,
}

impl TimeOfDay {
    /// Builds from hours and minutes.
    pub const fn hm(hours: u16, minutes: u16) -> Self {
        Self {
            minutes: hours * 60 + minutes,
        }
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.minutes / 60, self.minutes % 60)
    }
}

impl FromStr for TimeOfDay {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let err = || format!("invalid time of day {s:?} (expected HH:MM, 00:00 to 24:00)");
        let (h, m) = s.trim().split_once(':').ok_or_else(err)?;
        let h: u16 = h.parse().map_err(|_| err())?;
        let m: u16 = m.parse().map_err(|_| err())?;
        if m >= 60 || h > 24 || (h == 24 && m != 0) {
            return Err(err());
        }
        Ok(Self::hm(h, m))
    }
}

serde_via_str!(TimeOfDay, "a time of day \"HH:MM\"");

/// A calendar date and time, minute resolution: `"2026-12-24"` (midnight)
/// or `"2026-12-24T17:30"`. Interpreted in the scheduler's time offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CivilDateTime {
    /// Year.
    pub year: i32,
    /// Month 1-12.
    pub month: u8,
    /// Day 1-31 (checked against the month).
    pub day: u8,
    /// Time of day.
    pub time: TimeOfDay,
}

impl CivilDateTime {
    /// Days since 1970-01-01 (proleptic Gregorian; Howard Hinnant's algorithm).
    pub fn days_since_epoch(&self) -> i64 {
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = if y >= 0 { y } else { y - 399 } / 400;
        let yoe = y - era * 400;
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// Seconds since the Unix epoch, treating this as UTC.
    pub fn unix_seconds(&self) -> i64 {
        self.days_since_epoch() * 86_400 + i64::from(self.time.minutes) * 60
    }
}

fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

impl fmt::Display for CivilDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}T{}",
            self.year, self.month, self.day, self.time
        )
    }
}

impl FromStr for CivilDateTime {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let err = || format!("invalid date {s:?} (expected YYYY-MM-DD or YYYY-MM-DDTHH:MM)");
        let s = s.trim();
        let (date, time) = match s.split_once(['T', ' ']) {
            Some((d, t)) => (d, t.parse::<TimeOfDay>()?),
            None => (s, TimeOfDay::hm(0, 0)),
        };
        let mut it = date.split('-');
        let year: i32 = it.next().ok_or_else(err)?.parse().map_err(|_| err())?;
        let month: u8 = it.next().ok_or_else(err)?.parse().map_err(|_| err())?;
        let day: u8 = it.next().ok_or_else(err)?.parse().map_err(|_| err())?;
        if it.next().is_some() || !(1..=12).contains(&month) {
            return Err(err());
        }
        if day == 0 || day > days_in_month(year, month) || time.minutes >= 1440 {
            return Err(err());
        }
        Ok(Self {
            year,
            month,
            day,
            time,
        })
    }
}

serde_via_str!(
    CivilDateTime,
    "a date \"YYYY-MM-DD\" or \"YYYY-MM-DDTHH:MM\""
);

/// TCP flag bits as they appear in the TCP header's flags byte.
pub mod tcp_flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
    /// URG.
    pub const URG: u8 = 0x20;
    /// ECE.
    pub const ECE: u8 = 0x40;
    /// CWR.
    pub const CWR: u8 = 0x80;
}

/// A TCP flags match in Junos syntax: `"syn & !ack"`, `"rst"`,
/// `"tcp-initial"` (= `syn & !ack`), `"tcp-established"` (= `ack | rst`).
///
/// Compiles to a list of alternatives; each alternative matches when
/// `flags & mask == value`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TcpFlagsMatch {
    /// The text as written (kept for round-trip and messages).
    pub text: String,
    /// Alternatives (OR); each is `(mask, value)`.
    pub alternatives: Vec<(u8, u8)>,
}

impl TcpFlagsMatch {
    /// True when `flags` satisfies any alternative.
    pub fn matches(&self, flags: u8) -> bool {
        self.alternatives.iter().any(|&(m, v)| flags & m == v)
    }
}

impl fmt::Display for TcpFlagsMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for TcpFlagsMatch {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        use tcp_flags::*;
        let text = s.trim().to_string();
        let mut alternatives = Vec::new();
        let expanded = match text.as_str() {
            "tcp-initial" => "syn & !ack".to_string(),
            "tcp-established" => "ack | rst".to_string(),
            other => other.to_string(),
        };
        for alt in expanded.split('|') {
            let (mut mask, mut value) = (0u8, 0u8);
            for term in alt.split('&') {
                let term = term.trim();
                let (neg, name) = match term.strip_prefix('!') {
                    Some(n) => (true, n.trim()),
                    None => (false, term),
                };
                let bit = match name {
                    "fin" => FIN,
                    "syn" => SYN,
                    "rst" => RST,
                    "push" | "psh" => PSH,
                    "ack" => ACK,
                    "urgent" | "urg" => URG,
                    "ece" => ECE,
                    "cwr" => CWR,
                    _ => {
                        return Err(format!(
                            "invalid tcp-flags {text:?}: unknown flag {name:?} (expected fin, syn, rst, push, ack, urgent, ece, cwr, combined with &, | and !)"
                        ));
                    }
                };
                if mask & bit != 0 {
                    return Err(format!(
                        "invalid tcp-flags {text:?}: flag {name:?} repeated"
                    ));
                }
                mask |= bit;
                if !neg {
                    value |= bit;
                }
            }
            alternatives.push((mask, value));
        }
        Ok(Self { text, alternatives })
    }
}

serde_via_str!(TcpFlagsMatch, "a TCP flags expression like \"syn & !ack\"");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges_parse_single_and_ranges() {
        assert_eq!("80".parse::<PortRange>().unwrap(), PortRange::single(80));
        assert_eq!(
            "1024-65535".parse::<PortRange>().unwrap(),
            PortRange::new(1024, 65535)
        );
        assert!("70000".parse::<PortRange>().is_err());
        let inverted: PortRange = "90-80".parse().unwrap();
        assert!(
            !inverted.is_valid(),
            "inverted ranges are caught by validation"
        );
    }

    #[test]
    fn dates_convert_to_unix_time() {
        let d: CivilDateTime = "1970-01-01".parse().unwrap();
        assert_eq!(d.unix_seconds(), 0);
        let d: CivilDateTime = "2000-03-01T12:30".parse().unwrap();
        assert_eq!(d.unix_seconds(), 951_913_800);
        assert!("2026-02-29".parse::<CivilDateTime>().is_err());
        assert!("2024-02-29".parse::<CivilDateTime>().is_ok());
    }

    #[test]
    fn tcp_flag_expressions_compile_to_mask_value_pairs() {
        let m: TcpFlagsMatch = "syn & !ack".parse().unwrap();
        assert!(m.matches(tcp_flags::SYN));
        assert!(!m.matches(tcp_flags::SYN | tcp_flags::ACK));
        let e: TcpFlagsMatch = "tcp-established".parse().unwrap();
        assert!(e.matches(tcp_flags::ACK));
        assert!(e.matches(tcp_flags::RST));
        assert!(!e.matches(tcp_flags::SYN));
        assert!("syn & bogus".parse::<TcpFlagsMatch>().is_err());
    }

    #[test]
    fn mac_addresses_round_trip() {
        let m: MacAddr = "02:00:5e:00:00:01".parse().unwrap();
        assert_eq!(m.to_string(), "02:00:5e:00:00:01");
        assert!("02:00:5e:00:00".parse::<MacAddr>().is_err());
    }
}
