//! Operators' biometrics kept for offline login and for the 1:1 operator match. The templates
//! are sealed with the outbox key (bound to the operator's CPF); the fingers list and the
//! storage time stay clear for the flow.

use rusqlite::{params, OptionalExtension};
use state_machine::{Cpf, Finger, LocalOperator, Millis};

use super::seal::{Cipher, SealError, Sealed};
use super::{finger_list, Outbox, OutboxError};

/// The associated data an operator's templates are sealed under: the operator's CPF.
pub(super) fn operator_context(cpf_digits: &str) -> String {
    format!("operator:{cpf_digits}")
}

/// What the station holds for one operator. `templates` is opaque here (the caller decides
/// its format); the store seals it at rest.
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
        let key = &self.inner.key;
        let sealed = key
            .seal(&operator_context(cpf.digits()), templates)
            .map_err(|source| OutboxError::Sealed {
                what: format!("operator {}", cpf.masked()),
                source,
            })?;
        self.with(|conn| {
            conn.execute(
                "INSERT INTO operators (cpf, fingers, stored_at, templates, templates_key, templates_nonce,
                                        templates_cipher)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (cpf) DO UPDATE SET fingers = excluded.fingers, stored_at = excluded.stored_at,
                                                 templates = excluded.templates,
                                                 templates_key = excluded.templates_key,
                                                 templates_nonce = excluded.templates_nonce,
                                                 templates_cipher = excluded.templates_cipher",
                params![
                    cpf.digits(),
                    finger_list(fingers),
                    stored_at,
                    sealed.data,
                    key.id(),
                    sealed.nonce,
                    sealed.cipher.as_str()
                ],
            )?;
            Ok(())
        })
    }

    pub fn load_operator(&self, cpf: &Cpf) -> Result<Option<StoredOperator>, OutboxError> {
        let row = self.with(|conn| {
            Ok(conn
                .query_row(
                    "SELECT fingers, stored_at, templates, templates_key, templates_nonce,
                            templates_cipher
                     FROM operators WHERE cpf = ?1",
                    [cpf.digits()],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, Vec<u8>>(2)?,
                            r.get::<_, Option<String>>(3)?,
                            r.get::<_, Option<Vec<u8>>>(4)?,
                            r.get::<_, Option<String>>(5)?,
                        ))
                    },
                )
                .optional()?)
        })?;
        let Some((fingers, stored_at, data, key_id, nonce, cipher)) = row else {
            return Ok(None);
        };
        let key = &self.inner.key;
        let sealed_error = |source| OutboxError::Sealed {
            what: format!("operator {}", cpf.masked()),
            source,
        };
        if key_id.as_deref() != Some(key.id()) {
            return Err(sealed_error(SealError::Forged));
        }
        let cipher = Cipher::from_column(cipher.as_deref()).ok_or(SealError::UnknownCipher);
        let sealed = Sealed {
            cipher: cipher.map_err(sealed_error)?,
            nonce: nonce.unwrap_or_default(),
            data,
        };
        let templates = key
            .open(&operator_context(cpf.digits()), sealed)
            .map_err(sealed_error)?;
        Ok(Some(StoredOperator {
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
