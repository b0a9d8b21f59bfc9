//! Operators' biometrics kept for offline login and for the 1:1 operator match.

use rusqlite::{params, OptionalExtension};
use state_machine::{Cpf, Finger, LocalOperator, Millis};

use super::{finger_list, Outbox, OutboxError};

/// What the station holds for one operator. `templates` is opaque here: the caller decides
/// its format (and encrypts it when it must be encrypted at rest).
#[derive(Clone, PartialEq)]
pub struct StoredOperator {
    pub cpf: Cpf,
    pub fingers: Vec<Finger>,
    pub stored_at: Millis,
    pub templates: Vec<u8>,
}

impl std::fmt::Debug for StoredOperator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredOperator")
            .field("cpf", &self.cpf)
            .field("fingers", &self.fingers)
            .field("stored_at", &self.stored_at)
            .field(
                "templates",
                &format_args!("<{} bytes>", self.templates.len()),
            )
            .finish()
    }
}

impl StoredOperator {
    /// The flow's view: when and which fingers, no biometrics.
    pub fn local(&self) -> LocalOperator {
        LocalOperator {
            stored_at: self.stored_at,
            fingers: self.fingers.clone(),
        }
    }
}

impl Outbox {
    /// Stores (or replaces) an operator's biometrics.
    pub fn save_operator(
        &self,
        cpf: &Cpf,
        fingers: &[Finger],
        templates: &[u8],
        stored_at: Millis,
    ) -> Result<(), OutboxError> {
        let stored_at = i64::try_from(stored_at).unwrap_or(i64::MAX);
        self.with(|conn| {
            conn.execute(
                "INSERT INTO operators (cpf, fingers, stored_at, templates) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (cpf) DO UPDATE SET fingers = excluded.fingers, stored_at = excluded.stored_at,
                                                 templates = excluded.templates",
                params![cpf.digits(), finger_list(fingers), stored_at, templates],
            )?;
            Ok(())
        })
    }

    pub fn load_operator(&self, cpf: &Cpf) -> Result<Option<StoredOperator>, OutboxError> {
        let row = self.with(|conn| {
            Ok(conn
                .query_row(
                    "SELECT fingers, stored_at, templates FROM operators WHERE cpf = ?1",
                    [cpf.digits()],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, Vec<u8>>(2)?,
                        ))
                    },
                )
                .optional()?)
        })?;
        Ok(row.map(|(fingers, stored_at, templates)| StoredOperator {
            cpf: cpf.clone(),
            fingers: fingers
                .split(',')
                .filter_map(|c| c.trim().parse::<u8>().ok().and_then(Finger::new))
                .collect(),
            stored_at: stored_at.max(0) as Millis,
            templates,
        }))
    }
}
