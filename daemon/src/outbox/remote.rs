//! Remote captures and provider outcomes in the station's database.
//!
//! A remote capture is written (`CREATING`) before the upstream or provider is asked to create
//! it, then becomes `CREATED` with its external id and link, or `FAILED`; `DONE` once its
//! result is known. Provider outcomes are keyed by (transaction, provider): claiming the row
//! before a call is what makes "at most one call per transaction" hold across tasks and crashes.

use rusqlite::{params, OptionalExtension, Row};
use state_machine::{Cpf, Millis, Mode};

use super::transactions::to_i64;
use super::{columns, now_millis, Outbox, OutboxError};

/// Where a remote capture is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoteState {
    /// Written; the upstream or provider is being asked to create it.
    Creating,
    /// Its link exists; the result is pending.
    Created,
    /// The creation failed (the integrator got an error and never saw the id).
    Failed,
    /// The result is known.
    Done,
}

impl RemoteState {
    pub fn as_str(self) -> &'static str {
        match self {
            RemoteState::Creating => "CREATING",
            RemoteState::Created => "CREATED",
            RemoteState::Failed => "FAILED",
            RemoteState::Done => "DONE",
        }
    }

    fn parse(s: &str) -> Option<RemoteState> {
        [
            RemoteState::Creating,
            RemoteState::Created,
            RemoteState::Failed,
            RemoteState::Done,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }
}

/// A remote capture to record before asking for it.
#[derive(Clone, Debug)]
pub struct NewRemote {
    pub mode: Mode,
    /// `spid`, `unico` or `faceverify`.
    pub provider: &'static str,
    pub cpf: Cpf,
    pub operator: Cpf,
    pub email: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct StoredRemote {
    /// The station's id (UUID v4).
    pub id: String,
    pub mode: Mode,
    pub provider: String,
    pub cpf: Cpf,
    pub operator: Cpf,
    pub email: Option<String>,
    pub created_at: Millis,
    pub state: RemoteState,
    /// The TGUID, by Unico process id or faceverify.ai session id.
    pub external_id: Option<String>,
    /// The link the individual opens.
    pub url: Option<String>,
    pub last_error: Option<String>,
    /// Result questions asked so far (for the backoff).
    pub polls: u32,
    pub next_poll_at: Option<Millis>,
    pub result_status: Option<String>,
    pub result_message: Option<String>,
    pub result_detail: serde_json::Value,
    pub result_at: Option<Millis>,
    /// The operator who recorded the result by hand (providers without a result endpoint).
    pub result_by: Option<String>,
}

/// One provider's outcome for one transaction; `PENDING` while its call runs.
#[derive(Clone, Debug, PartialEq)]
pub struct ProviderOutcome {
    pub provider: String,
    pub outcome: String,
    pub detail: serde_json::Value,
    pub started_at: Millis,
    pub finished_at: Option<Millis>,
}

const COLUMNS: &str = "id, mode, provider, cpf, operator, email, created_at, state, external_id, url, \
     last_error, polls, next_poll_at, result_status, result_message, result_detail, result_at, result_by";

fn read_remote(row: &Row<'_>) -> rusqlite::Result<StoredRemote> {
    let bad = columns::bad;
    let mode = columns::mode(row, 1)?;
    let cpf = columns::cpf(row, 3, "cpf")?;
    let operator = columns::cpf(row, 4, "operator")?;
    let state = RemoteState::parse(&row.get::<_, String>(7)?).ok_or_else(|| bad(7, "state"))?;
    let millis = |i: usize| -> rusqlite::Result<Option<Millis>> {
        Ok(row.get::<_, Option<i64>>(i)?.map(|v| v.max(0) as Millis))
    };
    let detail: Option<String> = row.get(15)?;
    Ok(StoredRemote {
        id: row.get(0)?,
        mode,
        provider: row.get(2)?,
        cpf,
        operator,
        email: row.get(5)?,
        created_at: millis(6)?.unwrap_or(0),
        state,
        external_id: row.get(8)?,
        url: row.get(9)?,
        last_error: row.get(10)?,
        polls: row.get::<_, i64>(11)?.clamp(0, i64::from(u32::MAX)) as u32,
        next_poll_at: millis(12)?,
        result_status: row.get(13)?,
        result_message: row.get(14)?,
        result_detail: detail
            .and_then(|d| serde_json::from_str(&d).ok())
            .unwrap_or(serde_json::Value::Null),
        result_at: millis(16)?,
        result_by: row.get(17)?,
    })
}

impl Outbox {
    /// Records a remote capture as `CREATING`; returns its station id.
    pub fn create_remote(&self, new: &NewRemote) -> Result<String, OutboxError> {
        let mode = match new.mode {
            Mode::Enroll | Mode::Verify => new.mode.as_str(),
            other => return Err(OutboxError::Mode(other.as_str())),
        };
        let id = uuid::Uuid::new_v4().to_string();
        self.with(|conn| {
            conn.execute(
                "INSERT INTO remote_transactions (id, mode, provider, cpf, operator, email, created_at, state)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'CREATING')",
                params![id, mode, new.provider, new.cpf.digits(), new.operator.digits(), new.email, to_i64(now_millis())],
            )?;
            Ok(())
        })?;
        Ok(id)
    }

    /// The creation succeeded: `external_id` and `url` are known; first result question at
    /// `next_poll_at` (`None`: nobody is asked, the result is recorded by hand).
    pub fn remote_created(
        &self,
        id: &str,
        external_id: Option<&str>,
        url: &str,
        next_poll_at: Option<Millis>,
    ) -> Result<(), OutboxError> {
        self.update_remote(
            id,
            "UPDATE remote_transactions SET state = 'CREATED', external_id = ?2, url = ?3, next_poll_at = ?4
             WHERE id = ?1 AND state = 'CREATING'",
            params![id, external_id, url, next_poll_at.map(to_i64)],
        )
    }

    /// The creation failed; kept for the record.
    pub fn remote_failed(&self, id: &str, error: &str) -> Result<(), OutboxError> {
        self.update_remote(
            id,
            "UPDATE remote_transactions SET state = 'FAILED', last_error = ?2 WHERE id = ?1 AND state = 'CREATING'",
            params![id, error],
        )
    }

    /// A result question was asked and the result is still pending (or the question failed).
    pub fn remote_polled(
        &self,
        id: &str,
        next_poll_at: Millis,
        error: Option<&str>,
    ) -> Result<(), OutboxError> {
        self.update_remote(
            id,
            "UPDATE remote_transactions SET polls = polls + 1, next_poll_at = ?2, last_error = ?3
             WHERE id = ?1 AND state = 'CREATED'",
            params![id, to_i64(next_poll_at), error],
        )
    }

    /// The final result. Recording it again (a late poll, a second operator) changes nothing:
    /// the first final result stands.
    pub fn remote_result(
        &self,
        id: &str,
        status: &str,
        message: Option<&str>,
        detail: &serde_json::Value,
        by: Option<&str>,
    ) -> Result<bool, OutboxError> {
        let detail = detail.to_string();
        self.with(|conn| {
            let changed = conn.execute(
                "UPDATE remote_transactions SET state = 'DONE', result_status = ?2, result_message = ?3,
                        result_detail = ?4, result_at = ?5, result_by = ?6, next_poll_at = NULL
                 WHERE id = ?1 AND state = 'CREATED'",
                params![id, status, message, detail, to_i64(now_millis()), by],
            )?;
            Ok(changed == 1)
        })
    }

    fn update_remote(
        &self,
        id: &str,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<(), OutboxError> {
        self.with(|conn| {
            if conn.execute(sql, params)? == 0 {
                return Err(OutboxError::NotFound(id.to_string()).into());
            }
            Ok(())
        })
    }

    /// By station id, else by external id (TGUID, process id, session id).
    pub fn get_remote(&self, id_or_external: &str) -> Result<Option<StoredRemote>, OutboxError> {
        self.with(|conn| {
            let by_id = format!("SELECT {COLUMNS} FROM remote_transactions WHERE id = ?1");
            if let Some(r) = conn
                .query_row(&by_id, [id_or_external], read_remote)
                .optional()?
            {
                return Ok(Some(r));
            }
            let by_external = format!(
                "SELECT {COLUMNS} FROM remote_transactions WHERE external_id = ?1 ORDER BY created_at DESC LIMIT 1"
            );
            Ok(conn
                .query_row(&by_external, [id_or_external], read_remote)
                .optional()?)
        })
    }

    /// Created remote captures whose next result question is due, oldest first.
    pub fn remote_due(&self, now: Millis, limit: usize) -> Result<Vec<StoredRemote>, OutboxError> {
        self.with(|conn| {
            let sql = format!(
                "SELECT {COLUMNS} FROM remote_transactions
                 WHERE state = 'CREATED' AND next_poll_at IS NOT NULL AND next_poll_at <= ?1
                 ORDER BY next_poll_at LIMIT ?2"
            );
            let mut stmt = conn.prepare(&sql)?;
            let rows = stmt
                .query_map(params![to_i64(now), limit as i64], read_remote)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    /// The earliest pending result question, to know how long the poller may sleep.
    pub fn next_remote_poll(&self) -> Result<Option<Millis>, OutboxError> {
        self.with(|conn| {
            let v: Option<i64> = conn.query_row(
                "SELECT MIN(next_poll_at) FROM remote_transactions WHERE state = 'CREATED'",
                [],
                |r| r.get(0),
            )?;
            Ok(v.map(|v| v.max(0) as Millis))
        })
    }

    /// The newest by Unico process of `cpf` that authenticated the individual: the reference
    /// of an IDToken face check.
    pub fn unico_reference(&self, cpf: &Cpf) -> Result<Option<String>, OutboxError> {
        self.with(|conn| {
            Ok(conn
                .query_row(
                    "SELECT external_id FROM remote_transactions
                     WHERE cpf = ?1 AND provider = 'unico' AND state = 'DONE' AND result_status = 'SEARCH_MATCH'
                       AND external_id IS NOT NULL
                     ORDER BY result_at DESC LIMIT 1",
                    [cpf.digits()],
                    |r| r.get(0),
                )
                .optional()?)
        })
    }

    /// Claims the (transaction, provider) call: `true` for the first claimant only.
    pub fn claim_provider(&self, transaction: &str, provider: &str) -> Result<bool, OutboxError> {
        self.with(|conn| {
            let inserted = conn.execute(
                "INSERT OR IGNORE INTO provider_outcomes (transaction_id, provider, outcome, detail, started_at)
                 VALUES (?1, ?2, 'PENDING', '{}', ?3)",
                params![transaction, provider, to_i64(now_millis())],
            )?;
            Ok(inserted == 1)
        })
    }

    /// Records a claimed call's outcome.
    pub fn finish_provider(
        &self,
        transaction: &str,
        provider: &str,
        outcome: &str,
        detail: &serde_json::Value,
    ) -> Result<(), OutboxError> {
        let detail = detail.to_string();
        self.with(|conn| {
            conn.execute(
                "UPDATE provider_outcomes SET outcome = ?3, detail = ?4, finished_at = ?5
                 WHERE transaction_id = ?1 AND provider = ?2",
                params![transaction, provider, outcome, detail, to_i64(now_millis())],
            )?;
            Ok(())
        })
    }

    /// Remote captures a restart caught while they were being created: the upstream may hold
    /// them, but the integrator never got their link; kept as failed for the record.
    pub fn close_interrupted_remotes(&self) -> Result<usize, OutboxError> {
        self.with(|conn| {
            Ok(conn.execute(
                "UPDATE remote_transactions SET state = 'FAILED',
                        last_error = 'interrupted: the station stopped while creating it'
                 WHERE state = 'CREATING'",
                [],
            )?)
        })
    }

    /// Calls claimed before a restart never finished: whether they reached the provider is
    /// unknown, so they are closed as errors and never repeated.
    pub fn close_interrupted_providers(&self) -> Result<usize, OutboxError> {
        self.with(|conn| {
            Ok(conn.execute(
                "UPDATE provider_outcomes SET outcome = 'ERROR', finished_at = ?1,
                        detail = '{\"message\":\"interrupted: the station stopped during the call\"}'
                 WHERE outcome = 'PENDING'",
                [to_i64(now_millis())],
            )?)
        })
    }

    /// Every provider outcome of `transaction`, by provider name.
    pub fn provider_outcomes(
        &self,
        transaction: &str,
    ) -> Result<Vec<ProviderOutcome>, OutboxError> {
        self.with(|conn| {
            let mut stmt = conn.prepare(
                "SELECT provider, outcome, detail, started_at, finished_at FROM provider_outcomes
                 WHERE transaction_id = ?1 ORDER BY provider",
            )?;
            let rows = stmt
                .query_map([transaction], |r| {
                    let detail: String = r.get(2)?;
                    Ok(ProviderOutcome {
                        provider: r.get(0)?,
                        outcome: r.get(1)?,
                        detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
                        started_at: r.get::<_, i64>(3)?.max(0) as Millis,
                        finished_at: r.get::<_, Option<i64>>(4)?.map(|v| v.max(0) as Millis),
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpf(s: &str) -> Cpf {
        Cpf::parse(s).unwrap()
    }

    fn open() -> (tempfile_dir::Dir, Outbox) {
        let dir = tempfile_dir::Dir::new();
        let outbox = Outbox::open(
            dir.path().join("spidd.db"),
            crate::outbox::SealKey::generate().unwrap(),
        )
        .unwrap();
        (dir, outbox)
    }

    /// A scratch directory removed on drop (the daemon has no tempfile dependency).
    mod tempfile_dir {
        pub struct Dir(std::path::PathBuf);
        impl Dir {
            pub fn new() -> Dir {
                let p = std::env::temp_dir().join(format!("spidd-remote-{}", uuid::Uuid::new_v4()));
                std::fs::create_dir_all(&p).unwrap();
                Dir(p)
            }
            pub fn path(&self) -> &std::path::Path {
                &self.0
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    fn new_remote(provider: &'static str) -> NewRemote {
        NewRemote {
            mode: Mode::Verify,
            provider,
            cpf: cpf("93541134780"),
            operator: cpf("52998224725"),
            email: None,
        }
    }

    #[test]
    fn a_remote_capture_goes_creating_created_done_and_keeps_its_first_result() {
        let (_dir, outbox) = open();
        let id = outbox.create_remote(&new_remote("unico")).unwrap();
        assert_eq!(
            outbox.get_remote(&id).unwrap().unwrap().state,
            RemoteState::Creating
        );
        outbox
            .remote_created(&id, Some("proc-1"), "https://link/1", Some(5))
            .unwrap();
        let r = outbox.get_remote("proc-1").unwrap().unwrap();
        assert_eq!(
            (r.id.as_str(), r.state),
            (id.as_str(), RemoteState::Created)
        );
        assert_eq!(r.url.as_deref(), Some("https://link/1"));
        assert_eq!(outbox.remote_due(4, 10).unwrap().len(), 0);
        assert_eq!(outbox.remote_due(5, 10).unwrap().len(), 1);
        outbox.remote_polled(&id, 50, Some("HTTP 503")).unwrap();
        let r = outbox.get_remote(&id).unwrap().unwrap();
        assert_eq!((r.polls, r.next_poll_at), (1, Some(50)));
        assert_eq!(outbox.next_remote_poll().unwrap(), Some(50));
        assert_eq!(outbox.unico_reference(&r.cpf).unwrap(), None);
        let detail = serde_json::json!({"state": "PROCESS_STATE_FINISHED"});
        assert!(outbox
            .remote_result(&id, "SEARCH_MATCH", Some("ok"), &detail, None)
            .unwrap());
        assert!(!outbox
            .remote_result(&id, "SEARCH_NOT_MATCH", None, &detail, Some("x"))
            .unwrap());
        let r = outbox.get_remote(&id).unwrap().unwrap();
        assert_eq!(r.state, RemoteState::Done);
        assert_eq!(r.result_status.as_deref(), Some("SEARCH_MATCH"));
        assert_eq!(r.result_detail, detail);
        assert_eq!(
            outbox.unico_reference(&r.cpf).unwrap().as_deref(),
            Some("proc-1")
        );
        assert_eq!(outbox.remote_due(u64::MAX / 2, 10).unwrap().len(), 0);
    }

    #[test]
    fn a_failed_creation_is_kept_and_cannot_be_created_later() {
        let (_dir, outbox) = open();
        let id = outbox.create_remote(&new_remote("spid")).unwrap();
        outbox.remote_failed(&id, "unreachable").unwrap();
        let interrupted = outbox.create_remote(&new_remote("spid")).unwrap();
        assert_eq!(outbox.close_interrupted_remotes().unwrap(), 1);
        let r = outbox.get_remote(&interrupted).unwrap().unwrap();
        assert_eq!(r.state, RemoteState::Failed);
        assert!(matches!(
            outbox.remote_created(&id, Some("t"), "u", None),
            Err(OutboxError::NotFound(_))
        ));
        let r = outbox.get_remote(&id).unwrap().unwrap();
        assert_eq!(r.state, RemoteState::Failed);
        assert_eq!(r.last_error.as_deref(), Some("unreachable"));
    }

    #[test]
    fn a_provider_is_claimed_once_per_transaction() {
        let (_dir, outbox) = open();
        assert!(outbox.claim_provider("tx-1", "claro").unwrap());
        assert!(!outbox.claim_provider("tx-1", "claro").unwrap());
        assert!(outbox.claim_provider("tx-1", "unico_idtoken").unwrap());
        assert!(outbox.claim_provider("tx-2", "claro").unwrap());
        outbox
            .finish_provider(
                "tx-1",
                "claro",
                "NOT_FOUND",
                &serde_json::json!({"status": 422}),
            )
            .unwrap();
        let outcomes = outbox.provider_outcomes("tx-1").unwrap();
        assert_eq!(outcomes.len(), 2);
        assert_eq!(outcomes[0].provider, "claro");
        assert_eq!(outcomes[0].outcome, "NOT_FOUND");
        assert!(outcomes[0].finished_at.is_some());
        assert_eq!(outcomes[1].outcome, "PENDING");
    }
}
