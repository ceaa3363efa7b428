use super::ty::*;
use super::*;
use proptest::prelude::*;

fn round_trip(row: &[u8], types: &[u8]) -> Vec<Value<'static>> {
    let values = decode(row, types).unwrap_or_else(|e| panic!("decode: {e}"));
    let mut out = Vec::new();
    encode(&values, &mut out);
    assert_eq!(out, row, "re-encoded row differs");
    values
        .into_iter()
        .map(|v| match v {
            Value::Null => Value::Null,
            Value::Fixed(b) => Value::Fixed(b.to_vec().leak()),
            Value::Text(s) => Value::Text(Cow::Owned(s.into_owned())),
            Value::Temporal(b) => Value::Temporal(b.to_vec().leak()),
        })
        .collect()
}

#[test]
fn every_supported_type_round_trips() {
    // One column of each type, in the layout MariaDB sends.
    let mut row = vec![0x00, 0x00, 0x00, 0x00, 0x00];
    let mut types = Vec::new();
    let mut add = |t: u8, bytes: &[u8]| {
        types.push(t);
        row.extend_from_slice(bytes);
    };
    add(TINY, &[0xFF]);
    add(SHORT, &[0x01, 0x80]);
    add(YEAR, &[0xE6, 0x07]);
    add(LONG, &[1, 2, 3, 4]);
    add(INT24, &[1, 2, 3, 0]);
    add(FLOAT, &1.5f32.to_le_bytes());
    add(LONGLONG, &u64::MAX.to_le_bytes());
    add(DOUBLE, &2.25f64.to_le_bytes());
    add(DATE, &[4, 0xE6, 0x07, 12, 5]);
    add(DATETIME, &[7, 0xE6, 0x07, 12, 5, 9, 30, 0]);
    add(TIMESTAMP, &[11, 0xE6, 0x07, 12, 5, 9, 30, 0, 1, 0, 0, 0]);
    add(TIME, &[8, 1, 2, 0, 0, 0, 3, 4, 5]);
    add(TIME, &[0]);
    add(DECIMAL, b"\x041.25");
    add(NEWDECIMAL, b"\x03-10");
    add(VARCHAR, b"\x02hi");
    add(VAR_STRING, b"\x00");
    add(STRING, b"\x01x");
    add(BIT, b"\x01\x05");
    add(JSON, b"\x02{}");
    add(ENUM, b"\x01a");
    add(SET, b"\x03a,b");
    add(TINY_BLOB, b"\x01\x00");
    add(MEDIUM_BLOB, b"\x01\xFF");
    add(LONG_BLOB, b"\x00");
    add(BLOB, b"\x02ab");
    add(GEOMETRY, b"\x01g");
    // 27 columns: (27 + 7 + 2) / 8 = 4 bitmap bytes; the row above starts
    // with a header and four zero bytes.
    assert_eq!(bitmap_len(types.len()), 4);
    let values = round_trip(&row, &types);
    assert_eq!(values[0], Value::Fixed(&[0xFF]));
    assert_eq!(values[13], Value::Text(Cow::Borrowed(b"1.25")));
    assert_eq!(values[12], Value::Temporal(&[]));
}

#[test]
fn null_bitmap_starts_at_bit_two() {
    // Three columns, the first and the third NULL: bits 2 and 4.
    let types = [LONG, VARCHAR, LONG];
    let row = [0x00, 0b0001_0100, 0x01, b'a'];
    let values = round_trip(&row, &types);
    assert_eq!(
        values,
        vec![Value::Null, Value::Text(Cow::Borrowed(b"a")), Value::Null]
    );
    // Seven columns need two bitmap bytes (7 + 2 bits); column 6 is bit 0
    // of the second byte.
    let types = [TINY; 7];
    let row = [0x00, 0x00, 0x01, 1, 2, 3, 4, 5, 6];
    let values = round_trip(&row, &types);
    assert_eq!(values[6], Value::Null);
    // A NULL-typed column is always marked NULL.
    round_trip(&[0x00, 0b100], &[NULL]);
}

#[test]
fn malformed_rows_are_refused() {
    let e = |row: &[u8], types: &[u8]| decode(row, types).err();
    assert_eq!(e(&[0x01, 0x00, 1], &[TINY]), Some(BinaryRowError::Header));
    assert_eq!(e(&[0x00], &[TINY]), Some(BinaryRowError::Bitmap));
    assert_eq!(
        e(&[0x00, 0b01, 1], &[TINY]),
        Some(BinaryRowError::StrayBits)
    );
    assert_eq!(
        e(&[0x00, 0b1000, 1], &[TINY]),
        Some(BinaryRowError::StrayBits)
    );
    assert_eq!(
        e(&[0x00, 0x00], &[TINY]),
        Some(BinaryRowError::Truncated(0))
    );
    assert_eq!(
        e(&[0x00, 0x00, 1, 2], &[TINY]),
        Some(BinaryRowError::Trailing)
    );
    assert_eq!(
        e(&[0x00, 0x00, 5, b'a'], &[VARCHAR]),
        Some(BinaryRowError::Truncated(0))
    );
    assert_eq!(
        e(&[0x00, 0x00, 0xFB], &[VARCHAR]),
        Some(BinaryRowError::Truncated(0))
    );
    assert_eq!(
        e(&[0x00, 0x00, 3, 1, 2, 3], &[DATE]),
        Some(BinaryRowError::TemporalLength(0))
    );
    assert_eq!(e(&[0x00, 0x00], &[NULL]), Some(BinaryRowError::NullType(0)));
    assert_eq!(
        e(&[0x00, 0x00, 1], &[0x12]),
        Some(BinaryRowError::UnknownType(0))
    );
}

#[test]
fn integers_read_as_the_text_protocol_shows_them() {
    assert_eq!(integer_text(TINY, false, &[0xFF]).as_deref(), Some("-1"));
    assert_eq!(integer_text(TINY, true, &[0xFF]).as_deref(), Some("255"));
    assert_eq!(
        integer_text(LONG, false, &[0, 0, 0, 0x80]).as_deref(),
        Some("-2147483648")
    );
    assert_eq!(
        integer_text(LONGLONG, true, &u64::MAX.to_le_bytes()).as_deref(),
        Some("18446744073709551615")
    );
    assert_eq!(
        integer_text(YEAR, false, &[0xE6, 0x07]).as_deref(),
        Some("2022")
    );
    assert_eq!(integer_text(FLOAT, false, &[0; 4]), None);
}

const TYPES: &[u8] = &[
    NULL,
    TINY,
    SHORT,
    LONG,
    FLOAT,
    DOUBLE,
    TIMESTAMP,
    LONGLONG,
    INT24,
    DATE,
    TIME,
    DATETIME,
    YEAR,
    VARCHAR,
    BIT,
    DECIMAL,
    JSON,
    NEWDECIMAL,
    ENUM,
    SET,
    TINY_BLOB,
    MEDIUM_BLOB,
    LONG_BLOB,
    BLOB,
    VAR_STRING,
    STRING,
    GEOMETRY,
];

/// A random value of type `t` (or NULL) as its bytes in a row.
fn value_of(t: u8) -> BoxedStrategy<Option<Vec<u8>>> {
    let some = match layout(t) {
        Some(Layout::Null) | None => return Just(None).boxed(),
        Some(Layout::Fixed(n)) => proptest::collection::vec(any::<u8>(), n).boxed(),
        Some(Layout::Temporal(allowed)) => proptest::sample::select(allowed.to_vec())
            .prop_flat_map(|n| proptest::collection::vec(any::<u8>(), usize::from(n)))
            .prop_map(|b| {
                let mut v = vec![b.len() as u8];
                v.extend(b);
                v
            })
            .boxed(),
        Some(Layout::LenEnc) => prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..300),
            // Lengths past 250 and 65535 use the longer length prefixes.
            (65_530usize..65_545).prop_map(|n| vec![b'x'; n]),
        ]
        .prop_map(|s| {
            let mut v = Vec::new();
            put_lenenc_str(&mut v, &s);
            v
        })
        .boxed(),
    };
    prop_oneof![1 => Just(None), 3 => some.prop_map(Some)].boxed()
}

fn row_strategy() -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
    proptest::collection::vec(proptest::sample::select(TYPES.to_vec()), 0..40)
        .prop_flat_map(|types| {
            let values: Vec<_> = types.iter().map(|&t| value_of(t)).collect();
            (Just(types), values)
        })
        .prop_map(|(types, values)| {
            let mut bitmap = vec![0u8; bitmap_len(types.len())];
            let mut body = Vec::new();
            for (i, v) in values.iter().enumerate() {
                match v {
                    None => bitmap[(i + 2) / 8] |= 1 << ((i + 2) % 8),
                    Some(b) => body.extend_from_slice(b),
                }
            }
            let mut row = vec![0x00];
            row.extend(bitmap);
            row.extend(body);
            (types, row)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_rows_survive_decode_and_encode_unchanged((types, row) in row_strategy()) {
        let values = decode(&row, &types);
        prop_assert!(values.is_ok(), "{:?}", values.err());
        let mut out = Vec::new();
        encode(&values.unwrap_or_default(), &mut out);
        prop_assert_eq!(out, row);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_reencode_exactly(
        types in proptest::collection::vec(any::<u8>(), 0..12),
        row in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        if let Ok(values) = decode(&row, &types) {
            let mut out = Vec::new();
            encode(&values, &mut out);
            prop_assert_eq!(out, row);
        }
    }
}
