//! Checked decoders for the client messages signoff reads itself: Parse,
//! Bind, Close and the SASL initial response. pgwire 0.42's decoders read
//! counts and lengths without checking them against the body and panic on a
//! short one, so these check every length against what is there and answer
//! `None` for a malformed body. (Query and the other messages still go
//! through pgwire, whose decoders for them only read strings.)

/// Parse: a statement's name and text (the parameter types are not needed).
#[derive(Debug, PartialEq)]
pub(crate) struct Parse<'a> {
    pub name: &'a str,
    pub query: &'a str,
}

/// Bind: which statement a portal binds, and the parameters.
#[derive(Debug, PartialEq)]
pub(crate) struct Bind<'a> {
    pub portal: &'a str,
    pub statement: &'a str,
    /// No codes: all text; one code: all alike; else one per parameter.
    pub formats: Vec<i16>,
    /// `None` is SQL NULL.
    pub params: Vec<Option<&'a [u8]>>,
}

/// Close: `S` for a statement, `P` for a portal.
#[derive(Debug, PartialEq)]
pub(crate) struct Close<'a> {
    pub kind: u8,
    pub name: &'a str,
}

/// SASLInitialResponse: the mechanism and the client-first message.
#[derive(Debug, PartialEq)]
pub(crate) struct SaslInitial<'a> {
    pub mechanism: &'a str,
    pub data: &'a [u8],
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn cstr(&mut self) -> Option<&'a str> {
        crate::frame::cstr(&mut self.0)
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn i16(&mut self) -> Option<i16> {
        let b = self.take(2)?;
        Some(i16::from_be_bytes([b[0], b[1]]))
    }

    fn i32(&mut self) -> Option<i32> {
        let b = self.take(4)?;
        Some(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A non-negative 16-bit count.
    fn count(&mut self) -> Option<usize> {
        usize::try_from(self.i16()?).ok()
    }

    /// A value of the given length; -1 is NULL.
    fn value(&mut self) -> Option<Option<&'a [u8]>> {
        match self.i32()? {
            -1 => Some(None),
            n => self.take(usize::try_from(n).ok()?).map(Some),
        }
    }
}

pub(crate) fn parse(body: &[u8]) -> Option<Parse<'_>> {
    let mut r = Reader(body);
    let name = r.cstr()?;
    let query = r.cstr()?;
    let types = r.count()?;
    r.take(types.checked_mul(4)?)?;
    Some(Parse { name, query })
}

pub(crate) fn bind(body: &[u8]) -> Option<Bind<'_>> {
    let mut r = Reader(body);
    let portal = r.cstr()?;
    let statement = r.cstr()?;
    let formats = (0..r.count()?)
        .map(|_| r.i16())
        .collect::<Option<Vec<_>>>()?;
    let params = (0..r.count()?)
        .map(|_| r.value())
        .collect::<Option<Vec<_>>>()?;
    let results = r.count()?;
    r.take(results.checked_mul(2)?)?;
    Some(Bind {
        portal,
        statement,
        formats,
        params,
    })
}

pub(crate) fn close(body: &[u8]) -> Option<Close<'_>> {
    let mut r = Reader(body);
    let kind = r.u8()?;
    let name = r.cstr()?;
    Some(Close { kind, name })
}

pub(crate) fn sasl_initial(body: &[u8]) -> Option<SaslInitial<'_>> {
    let mut r = Reader(body);
    let mechanism = r.cstr()?;
    let data = r.value()?.unwrap_or_default();
    Some(SaslInitial { mechanism, data })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use pgwire::messages::extendedquery as pg;
    use pgwire::messages::startup::SASLInitialResponse;
    use pgwire::messages::Message;

    /// The body of a message pgwire encodes (after the tag and length).
    fn body(m: &impl Message) -> Vec<u8> {
        let mut out = BytesMut::new();
        m.encode(&mut out).unwrap();
        out[5..].to_vec()
    }

    #[test]
    fn well_formed_messages_decode_as_pgwire_encodes_them() {
        let p = body(&pg::Parse::new(
            Some("s1".into()),
            "SELECT $1".into(),
            vec![23],
        ));
        assert_eq!(
            parse(&p),
            Some(Parse {
                name: "s1",
                query: "SELECT $1"
            })
        );
        let b = body(&pg::Bind::new(
            Some("".into()),
            Some("s1".into()),
            vec![0, 1],
            vec![Some("42".into()), None],
            vec![1],
        ));
        assert_eq!(
            bind(&b),
            Some(Bind {
                portal: "",
                statement: "s1",
                formats: vec![0, 1],
                params: vec![Some(&b"42"[..]), None],
            })
        );
        let c = body(&pg::Close::new(b'P', Some("p".into())));
        assert_eq!(
            close(&c),
            Some(Close {
                kind: b'P',
                name: "p"
            })
        );
        let s = body(&SASLInitialResponse::new(
            "SCRAM-SHA-256".into(),
            Some("n,,n=,r=abc".into()),
        ));
        assert_eq!(
            sasl_initial(&s),
            Some(SaslInitial {
                mechanism: "SCRAM-SHA-256",
                data: b"n,,n=,r=abc"
            })
        );
    }

    /// Every cut of a well-formed body, and bodies that claim more than they
    /// hold, decode to `None` without panicking.
    #[test]
    fn short_and_lying_bodies_are_refused() {
        type Decodes = fn(&[u8]) -> bool;
        let whole: [(&str, Vec<u8>, Decodes); 4] = [
            (
                "parse",
                body(&pg::Parse::new(
                    Some("s".into()),
                    "SELECT 1".into(),
                    vec![23, 25],
                )),
                |b| parse(b).is_some(),
            ),
            (
                "bind",
                body(&pg::Bind::new(
                    Some("p".into()),
                    Some("s".into()),
                    vec![1],
                    vec![Some("abc".into())],
                    vec![0],
                )),
                |b| bind(b).is_some(),
            ),
            (
                "close",
                body(&pg::Close::new(b'S', Some("s".into()))),
                |b| close(b).is_some(),
            ),
            (
                "sasl",
                body(&SASLInitialResponse::new("M".into(), Some("xy".into()))),
                |b| sasl_initial(b).is_some(),
            ),
        ];
        for (name, full, decodes) in whole {
            assert!(decodes(&full), "{name}: the whole body decodes");
            for cut in 0..full.len() {
                assert!(
                    !decodes(&full[..cut]),
                    "{name}: cut at {cut} of {}",
                    full.len()
                );
            }
        }
        // A count or length larger than what follows.
        assert_eq!(parse(b"s\0q\0\x7f\xff\0\0\0\x17"), None);
        assert_eq!(bind(b"\0\0\0\0\0\x01\0\0\0\x10ab\0\0"), None);
        assert_eq!(bind(b"\0\0\0\0\0\x01\xff\xff\xff\xfe\0\0"), None);
        assert_eq!(sasl_initial(b"M\0\0\0\0\x09xy"), None);
    }
}
