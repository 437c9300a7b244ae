//! SNTP/NTP packet wire layer (RFC 4330 / RFC 5905 header, 48 bytes, no
//! extension fields or MAC): zero-copy [`Packet`] view over bytes plus a
//! [`Repr`] value with `parse`/`emit`. Used by `diskless-init`'s clock client
//! and by the server's SNTP responder. No sockets and no clock in here: time
//! is passed in as [`Timestamp`]s.

use std::time::Duration;

/// Length of an SNTP packet without extension fields or authenticator.
pub const PACKET_LEN: usize = 48;
/// UDP port of NTP/SNTP.
pub const PORT: u16 = 123;
/// Seconds from the NTP epoch (1900-01-01) to the Unix epoch (1970-01-01).
pub const UNIX_OFFSET: u64 = 2_208_988_800;

/// Why bytes are not an SNTP packet we can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("SNTP packet too short: {0} bytes, need {PACKET_LEN}")]
    Truncated(usize),
    #[error("unsupported NTP version {0} (expected 1..=4)")]
    Version(u8),
}

/// Association mode (RFC 5905 figure 10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Reserved,
    SymmetricActive,
    SymmetricPassive,
    Client,
    Server,
    Broadcast,
    Control,
    Private,
}

impl Mode {
    fn from_bits(b: u8) -> Mode {
        match b & 7 {
            0 => Mode::Reserved,
            1 => Mode::SymmetricActive,
            2 => Mode::SymmetricPassive,
            3 => Mode::Client,
            4 => Mode::Server,
            5 => Mode::Broadcast,
            6 => Mode::Control,
            _ => Mode::Private,
        }
    }
    fn bits(self) -> u8 {
        self as u8
    }
}

/// A 64-bit NTP timestamp: seconds since 1900 (mod 2^32) and a binary fraction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord)]
pub struct Timestamp {
    pub seconds: u32,
    pub fraction: u32,
}

impl Timestamp {
    pub const ZERO: Timestamp = Timestamp {
        seconds: 0,
        fraction: 0,
    };

    pub fn from_bits(v: u64) -> Timestamp {
        Timestamp {
            seconds: (v >> 32) as u32,
            fraction: v as u32,
        }
    }
    pub fn to_bits(self) -> u64 {
        (u64::from(self.seconds) << 32) | u64::from(self.fraction)
    }
    pub fn is_zero(self) -> bool {
        self == Timestamp::ZERO
    }

    /// From time since the Unix epoch (wraps into NTP era 1 after 2036).
    pub fn from_unix(since_epoch: Duration) -> Timestamp {
        let secs = since_epoch.as_secs() + UNIX_OFFSET;
        let frac = ((u64::from(since_epoch.subsec_nanos()) << 32) + 500_000_000) / 1_000_000_000;
        Timestamp {
            seconds: secs as u32,
            fraction: frac as u32,
        }
    }

    /// To time since the Unix epoch. RFC 4330 §3: when the top bit of the
    /// seconds is clear the time is in era 1 (2036-02-07 onwards), which keeps
    /// 1968..2104 unambiguous. Times before 1970 yield `None`.
    pub fn to_unix(self) -> Option<Duration> {
        let mut secs = u64::from(self.seconds);
        if secs & 0x8000_0000 == 0 {
            secs += 1 << 32;
        }
        let secs = secs.checked_sub(UNIX_OFFSET)?;
        let nanos = ((u64::from(self.fraction) * 1_000_000_000 + (1 << 31)) >> 32).min(999_999_999);
        Some(Duration::new(secs, nanos as u32))
    }

    /// Nanoseconds since the Unix epoch as a signed value (for offset maths).
    fn unix_nanos(self) -> Option<i128> {
        self.to_unix().map(|d| d.as_nanos() as i128)
    }
}

/// Read-only or mutable view over the bytes of one packet.
#[derive(Debug)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps bytes without checking length; accessors may panic on short input.
    pub fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }
    /// Wraps bytes, checking there are at least 48 of them.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        let len = buffer.as_ref().len();
        if len < PACKET_LEN {
            return Err(Error::Truncated(len));
        }
        Ok(Packet { buffer })
    }
    pub fn into_inner(self) -> T {
        self.buffer
    }
    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }
    fn u32_at(&self, at: usize) -> u32 {
        let b = self.b();
        u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }
    fn ts_at(&self, at: usize) -> Timestamp {
        Timestamp {
            seconds: self.u32_at(at),
            fraction: self.u32_at(at + 4),
        }
    }
    pub fn leap(&self) -> u8 {
        self.b()[0] >> 6
    }
    pub fn version(&self) -> u8 {
        (self.b()[0] >> 3) & 7
    }
    pub fn mode(&self) -> Mode {
        Mode::from_bits(self.b()[0])
    }
    pub fn stratum(&self) -> u8 {
        self.b()[1]
    }
    pub fn poll(&self) -> i8 {
        self.b()[2] as i8
    }
    pub fn precision(&self) -> i8 {
        self.b()[3] as i8
    }
    pub fn root_delay(&self) -> u32 {
        self.u32_at(4)
    }
    pub fn root_dispersion(&self) -> u32 {
        self.u32_at(8)
    }
    pub fn reference_id(&self) -> [u8; 4] {
        let b = self.b();
        [b[12], b[13], b[14], b[15]]
    }
    pub fn reference_ts(&self) -> Timestamp {
        self.ts_at(16)
    }
    pub fn originate_ts(&self) -> Timestamp {
        self.ts_at(24)
    }
    pub fn receive_ts(&self) -> Timestamp {
        self.ts_at(32)
    }
    pub fn transmit_ts(&self) -> Timestamp {
        self.ts_at(40)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn put_u32(&mut self, at: usize, v: u32) {
        self.buffer.as_mut()[at..at + 4].copy_from_slice(&v.to_be_bytes());
    }
    fn put_ts(&mut self, at: usize, ts: Timestamp) {
        self.put_u32(at, ts.seconds);
        self.put_u32(at + 4, ts.fraction);
    }
}

/// The decoded header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Leap indicator: 0 none, 1 +1 s, 2 −1 s, 3 unsynchronized.
    pub leap: u8,
    pub version: u8,
    pub mode: Mode,
    /// 0 = kiss-o'-death / unspecified, 1 primary, 2..=15 secondary.
    pub stratum: u8,
    pub poll: i8,
    pub precision: i8,
    pub root_delay: u32,
    pub root_dispersion: u32,
    pub reference_id: [u8; 4],
    pub reference_ts: Timestamp,
    pub originate_ts: Timestamp,
    pub receive_ts: Timestamp,
    pub transmit_ts: Timestamp,
}

impl Repr {
    /// Parses a packet; only the length and the version are checked here,
    /// whether the answer is usable is [`Repr::check_reply`]'s job.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr, Error> {
        let version = packet.version();
        if !(1..=4).contains(&version) {
            return Err(Error::Version(version));
        }
        Ok(Repr {
            leap: packet.leap(),
            version,
            mode: packet.mode(),
            stratum: packet.stratum(),
            poll: packet.poll(),
            precision: packet.precision(),
            root_delay: packet.root_delay(),
            root_dispersion: packet.root_dispersion(),
            reference_id: packet.reference_id(),
            reference_ts: packet.reference_ts(),
            originate_ts: packet.originate_ts(),
            receive_ts: packet.receive_ts(),
            transmit_ts: packet.transmit_ts(),
        })
    }

    /// Parses the first 48 bytes of `bytes`.
    pub fn parse_bytes(bytes: &[u8]) -> Result<Repr, Error> {
        Repr::parse(&Packet::new_checked(bytes)?)
    }

    /// Writes the header into the first 48 bytes of the packet.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.buffer.as_mut()[0] = (self.leap << 6) | ((self.version & 7) << 3) | self.mode.bits();
        packet.buffer.as_mut()[1] = self.stratum;
        packet.buffer.as_mut()[2] = self.poll as u8;
        packet.buffer.as_mut()[3] = self.precision as u8;
        packet.put_u32(4, self.root_delay);
        packet.put_u32(8, self.root_dispersion);
        packet.buffer.as_mut()[12..16].copy_from_slice(&self.reference_id);
        packet.put_ts(16, self.reference_ts);
        packet.put_ts(24, self.originate_ts);
        packet.put_ts(32, self.receive_ts);
        packet.put_ts(40, self.transmit_ts);
    }

    /// The 48 bytes of this header.
    pub fn to_bytes(&self) -> [u8; PACKET_LEN] {
        let mut buf = [0u8; PACKET_LEN];
        self.emit(&mut Packet::new_unchecked(&mut buf[..]));
        buf
    }

    /// A client request (RFC 4330 §5): version 4, mode 3, only the transmit
    /// timestamp set; the server echoes it back as the originate timestamp.
    pub fn client_request(transmit: Timestamp) -> Repr {
        Repr {
            leap: 0,
            version: 4,
            mode: Mode::Client,
            stratum: 0,
            poll: 0,
            precision: 0,
            root_delay: 0,
            root_dispersion: 0,
            reference_id: [0; 4],
            reference_ts: Timestamp::ZERO,
            originate_ts: Timestamp::ZERO,
            receive_ts: Timestamp::ZERO,
            transmit_ts: transmit,
        }
    }

    /// A server reply to `request` (RFC 4330 §5): copies version and poll,
    /// echoes the client's transmit time as originate.
    pub fn server_reply(
        request: &Repr,
        stratum: u8,
        reference_id: [u8; 4],
        receive: Timestamp,
        transmit: Timestamp,
    ) -> Repr {
        Repr {
            leap: 0,
            version: request.version.clamp(1, 4),
            mode: Mode::Server,
            stratum,
            poll: request.poll,
            precision: -20,
            root_delay: 0,
            root_dispersion: 0,
            reference_id,
            reference_ts: transmit,
            originate_ts: request.transmit_ts,
            receive_ts: receive,
            transmit_ts: transmit,
        }
    }

    /// RFC 4330 §5 sanity checks a client applies to a reply to the request it
    /// sent with transmit timestamp `sent`.
    pub fn check_reply(&self, sent: Timestamp) -> Result<(), ReplyError> {
        if !matches!(self.mode, Mode::Server | Mode::Broadcast) {
            return Err(ReplyError::Mode(self.mode));
        }
        if self.stratum == 0 {
            return Err(ReplyError::KissOfDeath(self.reference_id));
        }
        if self.stratum > 15 {
            return Err(ReplyError::Stratum(self.stratum));
        }
        if self.leap == 3 {
            return Err(ReplyError::Unsynchronized);
        }
        if self.originate_ts != sent {
            return Err(ReplyError::NotOurs);
        }
        if self.transmit_ts.is_zero() {
            return Err(ReplyError::NoTime);
        }
        Ok(())
    }
}

/// Why a well-formed reply is not usable to set the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    #[error("reply has mode {0:?}, expected server")]
    Mode(Mode),
    #[error("server sent kiss-o'-death {:?}", String::from_utf8_lossy(.0))]
    KissOfDeath([u8; 4]),
    #[error("reply has invalid stratum {0}")]
    Stratum(u8),
    #[error("server clock is unsynchronized (leap indicator 3)")]
    Unsynchronized,
    #[error("reply does not answer our request (originate timestamp mismatch)")]
    NotOurs,
    #[error("reply carries no transmit time")]
    NoTime,
}

/// Clock offset and round-trip delay in nanoseconds from the four timestamps
/// of one exchange (RFC 4330 §5): t1 client send, t2 server receive, t3
/// server send, t4 client receive. Positive offset: the local clock is behind.
pub fn offset_and_delay(
    t1: Timestamp,
    t2: Timestamp,
    t3: Timestamp,
    t4: Timestamp,
) -> Option<(i128, i128)> {
    let (t1, t2, t3, t4) = (
        t1.unix_nanos()?,
        t2.unix_nanos()?,
        t3.unix_nanos()?,
        t4.unix_nanos()?,
    );
    let offset = ((t2 - t1) + (t3 - t4)) / 2;
    let delay = (t4 - t1) - (t3 - t2);
    Some((offset, delay))
}

#[cfg(test)]
mod tests;
