//! The offline password policy (issue 16, defect 6): checked when a password slot is created
//! (vault creation, password change, an added password slot), never at unlock.
//!
//! The policy is chosen at creation and recorded inside the encrypted database, so a later
//! password change is held to the same rule and cannot be weakened by editing files.

use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// What an offline password must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordPolicy {
    /// A passphrase: at least `min_chars` characters (Unicode scalar values, after NFC) and, with
    /// `min_score` above 0, a strength estimate (zxcvbn's score, 0 to 4) of at least
    /// `min_score`. zxcvbn's 3 means "safely unguessable: moderate protection from an offline
    /// slow-hash attack", about 10^8 to 10^10 guesses.
    Passphrase {
        /// Fewest characters.
        min_chars: u32,
        /// Lowest zxcvbn score (0 to 4; 0 = no estimate).
        min_score: u8,
    },
    /// A numeric PIN of at least `min_digits` digits, for apps that pair the password slot with a
    /// platform (biometric) slot and accept the consequence: a copy of the files falls to offline
    /// guessing in hours to days (10^6 guesses for 6 digits at the KDF's cost; `docs/security.md`),
    /// so only the lockout inside the app protects it.
    Pin {
        /// Fewest digits.
        min_digits: u32,
    },
    /// No check (the app checks passwords itself, or tests).
    Unchecked,
}

impl Default for PasswordPolicy {
    /// At least 8 characters and a zxcvbn score of at least 3.
    fn default() -> Self {
        PasswordPolicy::Passphrase { min_chars: 8, min_score: 3 }
    }
}

impl PasswordPolicy {
    /// Check `password` (the bytes the app passes).
    ///
    /// # Errors
    /// `WeakPassword { reason }` saying which rule failed (never the password);
    /// `InvalidArgument` if the policy itself is impossible (`min_score` above 4, or a score
    /// asked of a build without the strength estimator).
    pub fn check(&self, password: &[u8]) -> Result<()> {
        match *self {
            PasswordPolicy::Unchecked => Ok(()),
            PasswordPolicy::Pin { min_digits } => {
                if password.is_empty() || !password.iter().all(u8::is_ascii_digit) {
                    return Err(weak("a PIN has digits only (0-9)".to_owned()));
                }
                if (password.len() as u64) < u64::from(min_digits) {
                    return Err(weak(format!(
                        "a PIN needs at least {min_digits} digits (a copy of the files falls to offline guessing \
                         of a short PIN in hours)"
                    )));
                }
                Ok(())
            }
            PasswordPolicy::Passphrase { min_chars, min_score } => {
                if min_score > 4 {
                    return Err(Error::invalid("min_score is 0 to 4"));
                }
                let text: Zeroizing<String> = Zeroizing::new(String::from_utf8_lossy(password).into_owned());
                let chars = text.chars().count() as u64;
                if chars < u64::from(min_chars) {
                    return Err(weak(format!("shorter than {min_chars} characters")));
                }
                if min_score > 0 {
                    let (score, warning) = estimate(&text)?;
                    if score < min_score {
                        let mut reason = format!(
                            "too easy to guess (strength {score} of 4, at least {min_score} needed): \
                             use a few uncommon words, or more of them"
                        );
                        if let Some(w) = warning {
                            reason.push_str(" — ");
                            reason.push_str(&w);
                        }
                        return Err(weak(reason));
                    }
                }
                Ok(())
            }
        }
    }

    /// The text form recorded in the vault's database.
    pub(crate) fn record(&self) -> String {
        match *self {
            PasswordPolicy::Passphrase { min_chars, min_score } => format!("passphrase:{min_chars}:{min_score}"),
            PasswordPolicy::Pin { min_digits } => format!("pin:{min_digits}"),
            PasswordPolicy::Unchecked => "unchecked".to_owned(),
        }
    }

    pub(crate) fn parse_record(s: &str) -> Option<PasswordPolicy> {
        let parts: Vec<&str> = s.split(':').collect();
        match parts.as_slice() {
            ["passphrase", chars, score] => Some(PasswordPolicy::Passphrase {
                min_chars: chars.parse().ok()?,
                min_score: score.parse().ok().filter(|s: &u8| *s <= 4)?,
            }),
            ["pin", digits] => Some(PasswordPolicy::Pin { min_digits: digits.parse().ok()? }),
            ["unchecked"] => Some(PasswordPolicy::Unchecked),
            _ => None,
        }
    }
}

fn weak(reason: String) -> Error {
    Error::WeakPassword { reason }
}

/// zxcvbn's score and its warning (a generic sentence such as "This is a very common password.",
/// never the password or a part of it).
#[cfg(feature = "password-strength")]
fn estimate(text: &str) -> Result<(u8, Option<String>)> {
    let entropy = zxcvbn::zxcvbn(text, &[]);
    let warning = entropy.feedback().and_then(|f| f.warning()).map(|w| w.to_string());
    Ok((entropy.score() as u8, warning))
}

#[cfg(not(feature = "password-strength"))]
fn estimate(_text: &str) -> Result<(u8, Option<String>)> {
    Err(Error::invalid("this build has no password strength estimator (feature `password-strength`): use min_score 0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(p: &PasswordPolicy, pw: &str) -> Option<String> {
        match p.check(pw.as_bytes()) {
            Ok(()) => None,
            Err(Error::WeakPassword { reason }) => Some(reason),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn the_default_refuses_short_and_common_passwords_and_says_why() {
        let p = PasswordPolicy::default();
        assert_eq!(reason(&p, "1").as_deref(), Some("shorter than 8 characters"));
        assert_eq!(reason(&p, "abc").as_deref(), Some("shorter than 8 characters"));
        // Eight characters, but among the most common passwords.
        let r = reason(&p, "password123").unwrap();
        assert!(r.starts_with("too easy to guess (strength 0 of 4"), "{r}");
        assert!(!r.contains("password123"), "the reason never repeats the password");
        assert!(reason(&p, "12345678").is_some());
        assert!(reason(&p, "new password").is_some());
        // Passphrases pass, whatever their script.
        assert_eq!(reason(&p, "offline pass+/=word"), None);
        assert_eq!(reason(&p, "Zoë Ångström-Müller"), None);
        assert_eq!(reason(&p, "correct horse battery staple"), None);
        // Characters, not bytes: four 3-byte characters are four.
        assert_eq!(
            reason(&PasswordPolicy::Passphrase { min_chars: 5, min_score: 0 }, "日本語で").as_deref(),
            Some("shorter than 5 characters")
        );
    }

    #[test]
    fn a_pin_is_digits_of_the_chosen_length() {
        let p = PasswordPolicy::Pin { min_digits: 6 };
        assert_eq!(p.check(b"123456"), Ok(()));
        assert!(reason(&p, "12345").unwrap().starts_with("a PIN needs at least 6 digits"));
        assert_eq!(reason(&p, "12345a").as_deref(), Some("a PIN has digits only (0-9)"));
        assert_eq!(reason(&p, "").as_deref(), Some("a PIN has digits only (0-9)"));
        assert_eq!(PasswordPolicy::Unchecked.check(b"1"), Ok(()));
        assert!(matches!(
            PasswordPolicy::Passphrase { min_chars: 1, min_score: 5 }.check(b"x"),
            Err(Error::InvalidArgument { .. })
        ));
    }

    #[test]
    fn the_record_round_trips() {
        for p in [
            PasswordPolicy::default(),
            PasswordPolicy::Passphrase { min_chars: 0, min_score: 0 },
            PasswordPolicy::Pin { min_digits: 4 },
            PasswordPolicy::Unchecked,
        ] {
            assert_eq!(PasswordPolicy::parse_record(&p.record()), Some(p));
        }
        for bad in ["", "passphrase:8", "passphrase:8:5", "pin:x", "other"] {
            assert_eq!(PasswordPolicy::parse_record(bad), None, "{bad}");
        }
    }
}
