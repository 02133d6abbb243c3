//! RELP frames: `TXNR SP COMMAND SP DATALEN [SP DATA] LF` (written from the protocol's public description).
//!
//! TXNR runs from 1 to 999 999 999 and wraps to 1; 0 is reserved for unsolicited server frames
//! (`serverclose`). DATALEN counts the octets of DATA; with DATALEN 0 the frame has no SP and no DATA.

use std::io::Write;

/// Largest transaction number; the next one is 1 again.
pub(crate) const MAX_TXNR: u32 = 999_999_999;

/// Largest frame we accept from a server (responses are small).
const MAX_DATALEN: usize = 128 * 1024;

/// A frame received from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Frame {
    /// Transaction number (0 for unsolicited frames).
    pub(crate) txnr: u32,
    /// `rsp` or `serverclose`.
    pub(crate) command: String,
    /// The DATA part.
    pub(crate) data: Vec<u8>,
}

/// A response's status: `RSP-CODE [SP HUMANMSG] [LF CMDDATA]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Response {
    /// 200 is OK, 500 an error.
    pub(crate) code: u16,
    /// The human-readable message after the code.
    pub(crate) message: String,
    /// Command data (the server's offers, for `open`).
    pub(crate) data: String,
}

/// The server sent something that is not a RELP frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a RELP frame: {0}")]
pub(crate) struct FrameError(pub(crate) String);

/// Appends a frame to `out`.
pub(crate) fn write_frame(out: &mut Vec<u8>, txnr: u32, command: &str, data: &[u8]) {
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{txnr} {command} {}", data.len());
    if !data.is_empty() {
        out.push(b' ');
        out.extend_from_slice(data);
    }
    out.push(b'\n');
}

/// The transaction number after `txnr`.
pub(crate) fn next_txnr(txnr: u32) -> u32 {
    if txnr >= MAX_TXNR {
        1
    } else {
        txnr + 1
    }
}

/// Takes one complete frame off the front of `buf`; `Ok(None)` when more bytes are needed.
pub(crate) fn parse_frame(buf: &mut Vec<u8>) -> Result<Option<Frame>, FrameError> {
    let Some((_, after_txnr)) = field(buf, 0, 10)? else {
        return Ok(None);
    };
    let Some((_, after_command)) = field(buf, after_txnr, 32)? else {
        return Ok(None);
    };
    // DATALEN ends with SP (data follows) or LF (no data).
    let Some(end) = buf[after_command..]
        .iter()
        .take(10)
        .position(|&b| b == b' ' || b == b'\n')
        .map(|offset| after_command + offset)
    else {
        return if buf.len() - after_command > 9 {
            Err(FrameError("DATALEN too long".into()))
        } else {
            Ok(None)
        };
    };
    let txnr: u32 = number(&buf[..after_txnr - 1], "TXNR")?;
    let datalen: usize = number(&buf[after_command..end], "DATALEN")?;
    if datalen > MAX_DATALEN {
        return Err(FrameError(format!("DATALEN {datalen} too large")));
    }
    let (data_start, frame_end) = if buf[end] == b'\n' {
        if datalen != 0 {
            return Err(FrameError("DATALEN > 0 but no data".into()));
        }
        (end, end + 1)
    } else {
        (end + 1, end + 1 + datalen + 1)
    };
    if buf.len() < frame_end {
        return Ok(None);
    }
    if buf[frame_end - 1] != b'\n' {
        return Err(FrameError("frame does not end with LF".into()));
    }
    let command = String::from_utf8_lossy(&buf[after_txnr..after_command - 1]).into_owned();
    let data = buf[data_start..frame_end - 1].to_vec();
    buf.drain(..frame_end);
    Ok(Some(Frame {
        txnr,
        command,
        data,
    }))
}

/// The bytes from `start` up to the next SP (at most `max`), and the index after the SP.
fn field(buf: &[u8], start: usize, max: usize) -> Result<Option<(&[u8], usize)>, FrameError> {
    match buf[start.min(buf.len())..]
        .iter()
        .take(max + 1)
        .position(|&b| b == b' ')
    {
        Some(0) => Err(FrameError("empty header field".into())),
        Some(len) => Ok(Some((&buf[start..start + len], start + len + 1))),
        None if buf.len().saturating_sub(start) > max => {
            Err(FrameError("header field too long".into()))
        }
        None => Ok(None),
    }
}

fn number<T: std::str::FromStr>(bytes: &[u8], what: &str) -> Result<T, FrameError> {
    std::str::from_utf8(bytes)
        .ok()
        .filter(|text| text.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| {
            FrameError(format!(
                "{what} `{}` is not a number",
                String::from_utf8_lossy(bytes)
            ))
        })
}

// === impl Response ===

impl Response {
    /// Reads the DATA of an `rsp` frame.
    pub(crate) fn parse(data: &[u8]) -> Result<Response, FrameError> {
        let text = String::from_utf8_lossy(data);
        let (status, data) = text.split_once('\n').unwrap_or((&text, ""));
        let (code, message) = status.split_once(' ').unwrap_or((status, ""));
        let code = code
            .parse()
            .map_err(|_| FrameError(format!("response code `{code}` is not a number")))?;
        Ok(Response {
            code,
            message: message.to_string(),
            data: data.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_written_with_and_without_data() {
        let mut out = Vec::new();
        write_frame(&mut out, 1, "open", b"relp_version=0\ncommands=syslog");
        write_frame(&mut out, 7, "close", b"");
        assert_eq!(
            out,
            b"1 open 30 relp_version=0\ncommands=syslog\n7 close 0\n"
        );
    }

    #[test]
    fn frames_are_parsed_when_complete_and_only_then() {
        let wire = b"1 rsp 6 200 OK\n0 serverclose 0\n2 rsp 19 500 error\nmore data\n".to_vec();
        for cut in 0..wire.len() {
            let mut partial = wire[..cut].to_vec();
            while let Some(frame) = parse_frame(&mut partial).expect("valid prefix") {
                assert!(!frame.command.is_empty());
            }
        }
        let mut buf = wire;
        let first = parse_frame(&mut buf).expect("valid").expect("complete");
        assert_eq!(
            (first.txnr, first.command.as_str(), &first.data[..]),
            (1, "rsp", &b"200 OK"[..])
        );
        let second = parse_frame(&mut buf).expect("valid").expect("complete");
        assert_eq!(
            (second.txnr, second.command.as_str(), second.data.len()),
            (0, "serverclose", 0)
        );
        let third = parse_frame(&mut buf).expect("valid").expect("complete");
        let response = Response::parse(&third.data).expect("response");
        assert_eq!(response.code, 500);
        assert_eq!(response.message, "error");
        assert_eq!(response.data, "more data");
        assert!(buf.is_empty());
    }

    #[test]
    fn garbage_is_an_error() {
        for garbage in [
            &b"x rsp 0\n"[..],
            b"1 rsp 0 x\n",
            b"1 rsp 2 abcd\n",
            b"12345678901 rsp",
        ] {
            assert!(parse_frame(&mut garbage.to_vec()).is_err(), "{garbage:?}");
        }
    }

    #[test]
    fn transaction_numbers_wrap_to_one() {
        assert_eq!(next_txnr(1), 2);
        assert_eq!(next_txnr(MAX_TXNR), 1);
    }
}
