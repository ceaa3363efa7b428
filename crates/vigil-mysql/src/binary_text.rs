//! A binary-protocol value as the text protocol would show it, for callers
//! that want text (the target seam's results).

use crate::binary_row::{Value, integer_text, ty};
use crate::mask::{ColumnDef, flag};

/// The value's text; `None` is NULL (or a value Vigil cannot render).
pub(crate) fn text(value: &Value<'_>, def: &ColumnDef) -> Option<String> {
    match value {
        Value::Null => None,
        Value::Text(s) => Some(String::from_utf8_lossy(s).into_owned()),
        Value::Fixed(b) => match (def.column_type, b.len()) {
            (ty::FLOAT, 4) => Some(f32::from_le_bytes([b[0], b[1], b[2], b[3]]).to_string()),
            (ty::DOUBLE, 8) => Some(
                f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]).to_string(),
            ),
            (t, _) => integer_text(t, def.flags & flag::UNSIGNED != 0, b),
        },
        Value::Temporal(b) => Some(temporal(def.column_type, b)),
    }
}

fn temporal(t: u8, b: &[u8]) -> String {
    let at = |i: usize| u32::from(b.get(i).copied().unwrap_or(0));
    let micros = match b.len() {
        11 if t != ty::TIME => at(7) | at(8) << 8 | at(9) << 16 | at(10) << 24,
        12 if t == ty::TIME => at(8) | at(9) << 8 | at(10) << 16 | at(11) << 24,
        _ => 0,
    };
    let fraction = match micros {
        0 => String::new(),
        m => format!(".{m:06}"),
    };
    if t == ty::TIME {
        let sign = if at(0) == 1 { "-" } else { "" };
        let days = at(1) | at(2) << 8 | at(3) << 16 | at(4) << 24;
        let hours = u64::from(days) * 24 + u64::from(at(5));
        return format!("{sign}{hours:02}:{:02}:{:02}{fraction}", at(6), at(7));
    }
    let date = format!("{:04}-{:02}-{:02}", at(0) | at(1) << 8, at(2), at(3));
    if t == ty::DATE || t == ty::NEWDATE {
        return date;
    }
    format!("{date} {:02}:{:02}:{:02}{fraction}", at(4), at(5), at(6))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(t: u8) -> ColumnDef {
        ColumnDef {
            column_type: t,
            ..ColumnDef::default()
        }
    }

    #[test]
    fn temporal_values_read_as_the_text_protocol_shows_them() {
        let d = [0xE8, 0x07, 3, 9];
        assert_eq!(
            text(&Value::Temporal(&d), &def(ty::DATE)).as_deref(),
            Some("2024-03-09")
        );
        let dt = [0xE8, 0x07, 3, 9, 13, 5, 7, 1, 0, 0, 0];
        assert_eq!(
            text(&Value::Temporal(&dt), &def(ty::DATETIME)).as_deref(),
            Some("2024-03-09 13:05:07.000001")
        );
        assert_eq!(
            text(&Value::Temporal(&[]), &def(ty::DATETIME)).as_deref(),
            Some("0000-00-00 00:00:00")
        );
        let tm = [1, 1, 0, 0, 0, 2, 3, 4];
        assert_eq!(
            text(&Value::Temporal(&tm), &def(ty::TIME)).as_deref(),
            Some("-26:03:04")
        );
    }

    #[test]
    fn numbers_read_as_text() {
        let v = 7i32.to_le_bytes();
        assert_eq!(
            text(&Value::Fixed(&v), &def(ty::LONG)).as_deref(),
            Some("7")
        );
        let f = 1.5f64.to_le_bytes();
        assert_eq!(
            text(&Value::Fixed(&f), &def(ty::DOUBLE)).as_deref(),
            Some("1.5")
        );
        assert_eq!(text(&Value::Null, &def(ty::LONG)), None);
    }
}
