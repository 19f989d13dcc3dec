//! Auth material kept inside the encrypted database: the refresh token, the in-flight sign-in
//! (PKCE verifier, state, nonce) and the account the vault belongs to.

use rusqlite::{params, OptionalExtension};
use zeroize::Zeroizing;

use super::Store;
use crate::error::{Error, Result};

impl Store {
    /// Store (replace) an auth item. `expires_at` in Unix seconds, if it has a life.
    pub(crate) fn put_auth(&self, kind: &str, value: &[u8], expires_at: Option<i64>) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO auth_token (kind, value, expires_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (kind) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
                params![kind, value, expires_at],
            )?;
            Ok(())
        })
    }

    /// Read an auth item that has not expired at `now` (an expired one is deleted).
    pub(crate) fn get_auth(&self, kind: &str, now: i64) -> Result<Option<Zeroizing<Vec<u8>>>> {
        let row: Option<(Vec<u8>, Option<i64>)> = self.read(|c| {
            Ok(c.query_row("SELECT value, expires_at FROM auth_token WHERE kind = ?1", [kind], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?)
        })?;
        match row {
            Some((value, Some(exp))) if exp <= now => {
                drop(Zeroizing::new(value));
                self.delete_auth(kind)?;
                Ok(None)
            }
            Some((value, _)) => Ok(Some(Zeroizing::new(value))),
            None => Ok(None),
        }
    }

    /// Delete an auth item.
    pub(crate) fn delete_auth(&self, kind: &str) -> Result<()> {
        self.write(|tx| {
            tx.execute("DELETE FROM auth_token WHERE kind = ?1", [kind])?;
            Ok(())
        })
    }

    /// Delete every auth item (sign-out).
    pub(crate) fn clear_auth(&self) -> Result<()> {
        self.write(|tx| {
            tx.execute("DELETE FROM auth_token", [])?;
            Ok(())
        })
    }

    /// The account binding, if any (JSON in settings).
    pub(crate) fn account_json(&self) -> Result<Option<String>> {
        self.setting(ACCOUNT_SETTING)
    }

    /// Bind the store to an account, or check it is already bound to this one.
    pub(crate) fn bind_account(&self, binding: &crate::vault::AccountBinding) -> Result<()> {
        match self.account_json()? {
            None => {
                let json =
                    serde_json::to_string(binding).map_err(|e| Error::internal(format!("encode account: {e}")))?;
                self.set_setting(ACCOUNT_SETTING, &json)
            }
            Some(json) => {
                let existing: crate::vault::AccountBinding =
                    serde_json::from_str(&json).map_err(|_| Error::corrupt("account binding"))?;
                if existing.tenant_id != binding.tenant_id || existing.account_id != binding.account_id {
                    Err(Error::AccountMismatch { field: "account".into() })
                } else if existing.org_url != binding.org_url {
                    Err(Error::AccountMismatch { field: "org".into() })
                } else {
                    Ok(())
                }
            }
        }
    }
}

const ACCOUNT_SETTING: &str = "account";
