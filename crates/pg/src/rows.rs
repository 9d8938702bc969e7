//! Result masking: values in DataRow messages that a detector matches, or that
//! sit in a configured column, are masked.
//!
//! A masked value always goes out as text. Detectors only look at string
//! types (text, varchar, bpchar, name, json, jsonb, xml), whose binary form is
//! the text itself (jsonb: a version byte, then the text), so the row
//! description stays true. Configured columns of any type are announced as
//! `text` in every RowDescription, so clients decode the mask as text.

use bytes::{BufMut, Bytes, BytesMut};
use pgwire::messages::data::RowDescription;
use pgwire::messages::{DecodeContext, Message};

use crate::RowMasking;

const TEXT: u32 = 25;
const JSONB: u32 = 3802;
const STRING_TYPES: [u32; 8] = [25, 1043, 1042, 19, 114, JSONB, 142, 705];

/// What to do with each column of a result.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Columns(Vec<Column>);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Column {
    Keep,
    /// Run the detectors over the text.
    Scan {
        jsonb: bool,
    },
    /// Mask the whole value; the label names the column.
    Whole(String),
}

impl Columns {
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|c| *c == Column::Keep)
    }
}

/// Reads a RowDescription; returns its columns and, when a configured column
/// is announced as `text` instead, the rewritten message.
pub(crate) fn describe(frame: &[u8], masking: &RowMasking) -> (Columns, Option<Bytes>) {
    let mut buf = BytesMut::from(frame);
    let Ok(Some(mut desc)) = RowDescription::decode(&mut buf, &DecodeContext::default()) else {
        // Not understood: mask nothing rather than guess, and say so.
        tracing::warn!("could not read a RowDescription; its rows pass unmasked");
        return (Columns::default(), None);
    };
    let mut rewritten = false;
    let columns = desc
        .fields
        .iter_mut()
        .map(|f| {
            if masking
                .columns
                .iter()
                .any(|c| c.eq_ignore_ascii_case(&f.name))
            {
                if f.type_id != TEXT {
                    f.type_id = TEXT;
                    f.type_size = -1;
                    f.type_modifier = -1;
                    rewritten = true;
                }
                Column::Whole(f.name.to_uppercase())
            } else if STRING_TYPES.contains(&f.type_id) {
                Column::Scan {
                    jsonb: f.type_id == JSONB,
                }
            } else {
                Column::Keep
            }
        })
        .collect();
    let out = rewritten.then(|| {
        let mut out = BytesMut::new();
        match desc.encode(&mut out) {
            Ok(()) => out.freeze(),
            Err(_) => Bytes::copy_from_slice(frame),
        }
    });
    (Columns(columns), out)
}

/// Masks one DataRow; `None` when nothing changed.
pub(crate) fn mask_row(frame: &[u8], columns: &Columns, masking: &RowMasking) -> Option<Bytes> {
    let body = frame.get(5..)?;
    let count = i16::from_be_bytes([*body.first()?, *body.get(1)?]) as usize;
    let mut values: Vec<Option<&[u8]>> = Vec::with_capacity(count);
    let mut at = 2;
    for _ in 0..count {
        let len = i32::from_be_bytes(body.get(at..at + 4)?.try_into().ok()?);
        at += 4;
        if len < 0 {
            values.push(None);
        } else {
            let end = at.checked_add(len as usize)?;
            values.push(Some(body.get(at..end)?));
            at = end;
        }
    }
    let mut changed = false;
    let masked: Vec<Option<std::borrow::Cow<'_, [u8]>>> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let v = (*v)?;
            let out = match columns.0.get(i) {
                Some(Column::Whole(label)) => {
                    let text = String::from_utf8_lossy(v);
                    Some(masking.masker.mask_whole(label, &text).into_bytes())
                }
                Some(Column::Scan { jsonb }) => {
                    let (prefix, text) = match (jsonb, v.first()) {
                        (true, Some(1)) => (&v[..1], &v[1..]),
                        _ => (&v[..0], v),
                    };
                    std::str::from_utf8(text)
                        .ok()
                        .and_then(|t| match masking.masker.mask(t) {
                            std::borrow::Cow::Borrowed(_) => None,
                            std::borrow::Cow::Owned(m) => {
                                let mut out = prefix.to_vec();
                                out.extend_from_slice(m.as_bytes());
                                Some(out)
                            }
                        })
                }
                _ => None,
            };
            changed |= out.is_some();
            Some(out.map_or(std::borrow::Cow::Borrowed(v), std::borrow::Cow::Owned))
        })
        .collect();
    if !changed {
        return None;
    }
    Some(encode_row(masked.iter().map(|v| v.as_deref())))
}

/// A DataRow message.
fn encode_row<'a>(values: impl ExactSizeIterator<Item = Option<&'a [u8]>>) -> Bytes {
    let mut out = BytesMut::new();
    out.put_u8(b'D');
    out.put_i32(0);
    out.put_i16(values.len() as i16);
    for v in values {
        match v {
            None => out.put_i32(-1),
            Some(v) => {
                out.put_i32(v.len() as i32);
                out.put_slice(v);
            }
        }
    }
    let len = (out.len() - 1) as i32;
    out[1..5].copy_from_slice(&len.to_be_bytes());
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgwire::messages::data::FieldDescription;
    use std::sync::Arc;

    fn masking() -> RowMasking {
        RowMasking {
            masker: Arc::new(
                signoff_mask::Masker::new(&signoff_mask::MaskConfig::default()).unwrap(),
            ),
            columns: vec!["ssn".into()],
        }
    }

    fn field(name: &str, type_id: u32) -> FieldDescription {
        FieldDescription::new(name.into(), 0, 0, type_id, -1, -1, 0)
    }

    fn row(values: &[Option<&[u8]>]) -> Bytes {
        encode_row(values.iter().copied())
    }

    #[test]
    fn detectors_mask_strings_and_configured_columns_become_text() {
        let m = masking();
        let desc = RowDescription::new(vec![
            field("id", 23),
            field("email", 1043),
            field("ssn", 23),
            field("doc", JSONB),
        ]);
        let mut buf = BytesMut::new();
        desc.encode(&mut buf).unwrap();
        let (columns, rewritten) = describe(&buf, &m);
        let mut rewritten = BytesMut::from(&rewritten.unwrap()[..]);
        let back = RowDescription::decode(&mut rewritten, &DecodeContext::default())
            .unwrap()
            .unwrap();
        assert_eq!(back.fields[2].type_id, TEXT);
        assert_eq!(back.fields[0].type_id, 23);

        let data = row(&[
            Some(b"12345678901"),
            Some(b"ann@example.com"),
            Some(b"42"),
            Some(b"\x01{\"card\": \"4111 1111 1111 1111\"}"),
        ]);
        let masked = mask_row(&data, &columns, &m).unwrap();
        let text = String::from_utf8_lossy(&masked);
        assert!(
            text.contains("12345678901"),
            "numbers in int columns are kept: {text}"
        );
        assert!(text.contains("[EMAIL]") && text.contains("[SSN]"), "{text}");
        assert!(text.contains("\x01{\"card\": \"[CREDIT_CARD]\"}"), "{text}");
        assert!(!text.contains("ann@"), "{text}");

        let clean = row(&[Some(b"1"), Some(b"hello"), None, None]);
        assert_eq!(
            mask_row(
                &clean,
                &Columns(vec![Column::Keep, Column::Scan { jsonb: false }]),
                &m
            ),
            None
        );
    }

    #[test]
    fn malformed_rows_are_left_alone() {
        let m = masking();
        let cols = Columns(vec![Column::Whole("X".into())]);
        for bad in [
            &b"D\0\0\0\x06\0\x01"[..],
            b"D\0\0\0\x0a\0\x01\x7f\0\0\0",
            b"D",
        ] {
            assert_eq!(mask_row(bad, &cols, &m), None);
        }
    }
}
