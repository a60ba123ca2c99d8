//! The values that cross between nmr and either database engine: what a query is given
//! ([`ValueRef`], borrowed) and what a row holds ([`Value`], owned), with the conversions to and
//! from Rust types. Both engines speak these, so no query code names an engine's own types.

/// A parameter as it is handed to an engine, borrowing the caller's data.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ValueRef<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// A column of a row as the engine returned it. Booleans arrive as `Int(0 | 1)`, so a flag
/// stored as an integer (SQLite) and one computed as a boolean (PostgreSQL's `EXISTS`) read alike.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Value {
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Null => ValueRef::Null,
            Value::Int(i) => ValueRef::Int(*i),
            Value::Real(f) => ValueRef::Real(*f),
            Value::Text(s) => ValueRef::Text(s),
            Value::Blob(b) => ValueRef::Blob(b),
        }
    }
}

impl ValueRef<'_> {
    /// The engine-neutral name of the value's kind, for type-mismatch messages.
    pub fn kind(&self) -> &'static str {
        match self {
            ValueRef::Null => "null",
            ValueRef::Int(_) => "integer",
            ValueRef::Real(_) => "real",
            ValueRef::Text(_) => "text",
            ValueRef::Blob(_) => "blob",
        }
    }
}

/// A Rust value that can be a query parameter.
pub trait ToValue {
    fn to_value(&self) -> ValueRef<'_>;
}

impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> ValueRef<'_> {
        (**self).to_value()
    }
}

impl ToValue for str {
    fn to_value(&self) -> ValueRef<'_> {
        ValueRef::Text(self)
    }
}

impl ToValue for String {
    fn to_value(&self) -> ValueRef<'_> {
        ValueRef::Text(self)
    }
}

impl ToValue for [u8] {
    fn to_value(&self) -> ValueRef<'_> {
        ValueRef::Blob(self)
    }
}

impl ToValue for Vec<u8> {
    fn to_value(&self) -> ValueRef<'_> {
        ValueRef::Blob(self)
    }
}

impl ToValue for bool {
    fn to_value(&self) -> ValueRef<'_> {
        ValueRef::Int(i64::from(*self))
    }
}

impl ToValue for f64 {
    fn to_value(&self) -> ValueRef<'_> {
        ValueRef::Real(*self)
    }
}

impl ToValue for Value {
    fn to_value(&self) -> ValueRef<'_> {
        self.as_ref()
    }
}

impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> ValueRef<'_> {
        match self {
            Some(v) => v.to_value(),
            None => ValueRef::Null,
        }
    }
}

macro_rules! int_to_value {
    ($($t:ty),*) => {$(
        impl ToValue for $t {
            fn to_value(&self) -> ValueRef<'_> {
                // Every integer nmr stores fits an i64 (sizes, counts, times, ids); one that
                // did not would be a bug, stored as the largest value rather than wrapped.
                ValueRef::Int(i64::try_from(*self).unwrap_or(i64::MAX))
            }
        }
    )*};
}
int_to_value!(i64, i32, u32, u64, usize, u16, u8);

/// Why a column could not become the Rust type asked for.
#[derive(Debug)]
pub struct TypeMismatch {
    pub wanted: &'static str,
    pub found: &'static str,
}

/// A Rust type a column can be read as.
pub trait FromValue: Sized {
    fn from_value(v: ValueRef<'_>) -> Result<Self, TypeMismatch>;
}

fn mismatch<T>(wanted: &'static str, v: ValueRef<'_>) -> Result<T, TypeMismatch> {
    Err(TypeMismatch {
        wanted,
        found: v.kind(),
    })
}

impl FromValue for String {
    fn from_value(v: ValueRef<'_>) -> Result<Self, TypeMismatch> {
        match v {
            ValueRef::Text(s) => Ok(s.to_owned()),
            // SQLite hands back what was stored; a blob holding UTF-8 reads as text there too.
            ValueRef::Blob(b) => String::from_utf8(b.to_vec()).or_else(|_| mismatch("text", v)),
            _ => mismatch("text", v),
        }
    }
}

impl FromValue for Vec<u8> {
    fn from_value(v: ValueRef<'_>) -> Result<Self, TypeMismatch> {
        match v {
            ValueRef::Blob(b) => Ok(b.to_vec()),
            ValueRef::Text(s) => Ok(s.as_bytes().to_vec()),
            _ => mismatch("blob", v),
        }
    }
}

impl FromValue for i64 {
    fn from_value(v: ValueRef<'_>) -> Result<Self, TypeMismatch> {
        match v {
            ValueRef::Int(i) => Ok(i),
            _ => mismatch("integer", v),
        }
    }
}

impl FromValue for f64 {
    fn from_value(v: ValueRef<'_>) -> Result<Self, TypeMismatch> {
        match v {
            ValueRef::Real(f) => Ok(f),
            ValueRef::Int(i) => Ok(i as f64),
            _ => mismatch("real", v),
        }
    }
}

impl FromValue for bool {
    fn from_value(v: ValueRef<'_>) -> Result<Self, TypeMismatch> {
        match v {
            ValueRef::Int(i) => Ok(i != 0),
            _ => mismatch("boolean", v),
        }
    }
}

macro_rules! int_from_value {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            fn from_value(v: ValueRef<'_>) -> Result<Self, TypeMismatch> {
                match v {
                    ValueRef::Int(i) => <$t>::try_from(i).or_else(|_| mismatch(stringify!($t), v)),
                    _ => mismatch(stringify!($t), v),
                }
            }
        }
    )*};
}
int_from_value!(i32, u32, u64, usize, u16, u8);

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: ValueRef<'_>) -> Result<Self, TypeMismatch> {
        match v {
            ValueRef::Null => Ok(None),
            v => T::from_value(v).map(Some),
        }
    }
}

impl FromValue for Value {
    fn from_value(v: ValueRef<'_>) -> Result<Self, TypeMismatch> {
        Ok(match v {
            ValueRef::Null => Value::Null,
            ValueRef::Int(i) => Value::Int(i),
            ValueRef::Real(f) => Value::Real(f),
            ValueRef::Text(s) => Value::Text(s.to_owned()),
            ValueRef::Blob(b) => Value::Blob(b.to_vec()),
        })
    }
}
