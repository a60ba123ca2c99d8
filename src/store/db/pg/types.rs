//! How nmr's engine-neutral values travel: a [`ValueRef`] as a Bind parameter (its type oid,
//! format and bytes), and a text-format result cell back into a [`Value`] by its column's type.

use super::wire::Param;
use crate::store::db::value::{Value, ValueRef};
use std::borrow::Cow;

/// "Unspecified": the server infers the type from where the placeholder stands.
pub const UNSPECIFIED: u32 = 0;
const BOOL: u32 = 16;
const BYTEA: u32 = 17;
const INT8: u32 = 20;
const INT2: u32 = 21;
const INT4: u32 = 23;
const OID: u32 = 26;
const FLOAT4: u32 = 700;
const FLOAT8: u32 = 701;
const NUMERIC: u32 = 1700;

/// The type a parameter is declared with in Parse. Text and NULL leave it to the server, so a
/// text parameter fits a `text`, `varchar`, `json` or `timestamptz` column alike.
pub fn param_type(v: &ValueRef<'_>) -> u32 {
    match v {
        ValueRef::Null | ValueRef::Text(_) => UNSPECIFIED,
        ValueRef::Int(_) => INT8,
        ValueRef::Real(_) => FLOAT8,
        ValueRef::Blob(_) => BYTEA,
    }
}

/// PostgreSQL's spelling of a float8, exact when read back: Rust's shortest round-trip form,
/// and the server's names for the special values.
fn float_text(f: f64) -> String {
    if f.is_nan() {
        "NaN".to_string()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.to_string()
    } else {
        format!("{f:?}")
    }
}

/// The parameter's bytes in Bind: text for numbers and strings, binary for bytea (its binary
/// form is the raw bytes, half the size of the hex text).
pub fn param<'a>(v: &ValueRef<'a>) -> Param<'a> {
    match *v {
        ValueRef::Null => Param {
            format: 0,
            value: None,
        },
        ValueRef::Int(i) => Param {
            format: 0,
            value: Some(Cow::Owned(i.to_string().into_bytes())),
        },
        ValueRef::Real(f) => Param {
            format: 0,
            value: Some(Cow::Owned(float_text(f).into_bytes())),
        },
        ValueRef::Text(s) => Param {
            format: 0,
            value: Some(Cow::Borrowed(s.as_bytes())),
        },
        ValueRef::Blob(b) => Param {
            format: 1,
            value: Some(Cow::Borrowed(b)),
        },
    }
}

/// The bytes a parameter adds to a Bind message, to keep the message under the limit.
pub fn param_size(v: &ValueRef<'_>) -> usize {
    4 + match v {
        ValueRef::Null => 0,
        ValueRef::Int(_) | ValueRef::Real(_) => 32,
        ValueRef::Text(s) => s.len(),
        ValueRef::Blob(b) => b.len(),
    }
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// A bytea in text form: the hex form `\x0a1b...` (the default since PostgreSQL 9.0), or the
/// older escape form, which a server or database with `bytea_output = escape` still sends.
pub fn decode_bytea(text: &[u8]) -> Result<Vec<u8>, String> {
    let bad = || "a bytea value from the server is malformed".to_string();
    if let Some(hex) = text.strip_prefix(b"\\x") {
        if hex.len() % 2 != 0 {
            return Err(bad());
        }
        return hex
            .chunks(2)
            .map(|p| Some(hex_digit(p[0])? << 4 | hex_digit(p[1])?))
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(bad);
    }
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i] != b'\\' {
            out.push(text[i]);
            i += 1;
        } else if text.get(i + 1) == Some(&b'\\') {
            out.push(b'\\');
            i += 2;
        } else {
            let digits = text.get(i + 1..i + 4).ok_or_else(bad)?;
            let mut v: u32 = 0;
            for d in digits {
                if !(b'0'..=b'7').contains(d) {
                    return Err(bad());
                }
                v = v * 8 + u32::from(d - b'0');
            }
            out.push(u8::try_from(v).map_err(|_| bad())?);
            i += 4;
        }
    }
    Ok(out)
}

/// A text-format result cell as a [`Value`], by its column's type oid.
pub fn decode(type_oid: u32, cell: Option<&[u8]>) -> Result<Value, String> {
    let Some(raw) = cell else {
        return Ok(Value::Null);
    };
    if type_oid == BYTEA {
        return decode_bytea(raw).map(Value::Blob);
    }
    let text = std::str::from_utf8(raw)
        .map_err(|_| format!("a value of type oid {type_oid} from the server is not UTF-8"))?;
    let bad = |what: &str| format!("the server sent {text:?} for a {what} column");
    Ok(match type_oid {
        INT2 | INT4 | INT8 | OID => Value::Int(text.parse().map_err(|_| bad("integer"))?),
        BOOL => match text {
            "t" => Value::Int(1),
            "f" => Value::Int(0),
            _ => return Err(bad("boolean")),
        },
        // Rust reads "NaN", "Infinity" and "-Infinity" as PostgreSQL writes them.
        FLOAT4 | FLOAT8 | NUMERIC => Value::Real(text.parse().map_err(|_| bad("number"))?),
        _ => Value::Text(text.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytea_hex_form_decodes_every_byte_value() {
        let all: Vec<u8> = (0..=255).collect();
        let text = format!("\\x{}", crate::digest::hex(&all));
        assert_eq!(decode_bytea(text.as_bytes()).unwrap(), all);
        assert_eq!(
            decode_bytea(b"\\xDEADbeef").unwrap(),
            [0xde, 0xad, 0xbe, 0xef]
        );
        assert_eq!(decode_bytea(b"\\x").unwrap(), b"");
        assert!(decode_bytea(b"\\x0").is_err());
        assert!(decode_bytea(b"\\xzz").is_err());
    }

    #[test]
    fn bytea_escape_form_decodes_too() {
        assert_eq!(
            decode_bytea(b"a\\\\b\\000\\377c").unwrap(),
            [b'a', b'\\', b'b', 0, 255, b'c']
        );
        assert!(decode_bytea(b"\\9").is_err());
        assert!(decode_bytea(b"\\777").is_err());
    }

    #[test]
    fn cells_decode_by_their_column_type() {
        assert_eq!(decode(INT8, Some(b"-42")).unwrap(), Value::Int(-42));
        assert_eq!(decode(INT4, Some(b"7")).unwrap(), Value::Int(7));
        assert_eq!(decode(BOOL, Some(b"t")).unwrap(), Value::Int(1));
        assert_eq!(decode(BOOL, Some(b"f")).unwrap(), Value::Int(0));
        assert_eq!(decode(NUMERIC, Some(b"1.5")).unwrap(), Value::Real(1.5));
        assert_eq!(
            decode(FLOAT8, Some(b"-Infinity")).unwrap(),
            Value::Real(f64::NEG_INFINITY)
        );
        assert_eq!(
            decode(BYTEA, Some(b"\\x00ff")).unwrap(),
            Value::Blob(vec![0, 255])
        );
        assert_eq!(
            decode(25, Some("ü".as_bytes())).unwrap(),
            Value::Text("ü".into())
        );
        assert_eq!(decode(INT8, None).unwrap(), Value::Null);
        assert!(decode(INT8, Some(b"x")).is_err());
    }

    #[test]
    fn parameters_have_their_types_and_formats() {
        let p = param(&ValueRef::Real(0.1));
        assert_eq!(p.value.as_deref(), Some(&b"0.1"[..]));
        assert_eq!(float_text(1e300), "1e300");
        assert_eq!(float_text(f64::INFINITY), "Infinity");
        assert_eq!(float_text(f64::NAN), "NaN");
        assert_eq!(param(&ValueRef::Blob(b"\0")).format, 1);
        assert!(param(&ValueRef::Null).value.is_none());
        assert_eq!(param_type(&ValueRef::Int(1)), INT8);
        assert_eq!(param_type(&ValueRef::Text("x")), UNSPECIFIED);
        assert_eq!(param_type(&ValueRef::Null), UNSPECIFIED);
    }
}
