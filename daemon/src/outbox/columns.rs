//! Reading typed columns back from outbox rows; a stored value that no longer parses is an
//! SQLite conversion error naming the column.

use rusqlite::Row;
use state_machine::{Cpf, Mode};

/// Column `i` holds no valid `what`.
pub(super) fn bad(i: usize, what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        i,
        rusqlite::types::Type::Text,
        format!("bad {what}").into(),
    )
}

/// An ENROLL or VERIFY mode column.
pub(super) fn mode(row: &Row<'_>, i: usize) -> rusqlite::Result<Mode> {
    match row.get::<_, String>(i)?.as_str() {
        "ENROLL" => Ok(Mode::Enroll),
        "VERIFY" => Ok(Mode::Verify),
        _ => Err(bad(i, "mode")),
    }
}

/// A CPF column (`what` names it in the error).
pub(super) fn cpf(row: &Row<'_>, i: usize, what: &str) -> rusqlite::Result<Cpf> {
    Cpf::parse(&row.get::<_, String>(i)?).map_err(|_| bad(i, what))
}
