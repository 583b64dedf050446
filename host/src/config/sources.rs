//! The one precedence rule every command resolves its settings by: a
//! command-line flag, then the environment, then the config file, then the
//! default. The first that gives a value wins; the others are not read.
//!
//! Before this, each command picked its own order (`serve` let
//! `GOVERNANCE_DB_PATH` beat `--db`, `audit verify` the other way round), so
//! the same two inputs meant different databases. Resolving every setting
//! here keeps the order in one place; `docs/configuration.md` lists the keys.

use std::path::PathBuf;

use anyhow::{Context, Result};

/// Reads one environment variable; tests pass a fixed table instead.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The environment a command's settings are resolved against.
#[derive(Clone, Copy)]
pub struct Sources<'a> {
    env: EnvLookup<'a>,
}

/// The process's own environment.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl<'a> Sources<'a> {
    pub fn new(env: EnvLookup<'a>) -> Self {
        Self { env }
    }

    /// The variable's value. Set but empty (or blank) counts as not set, so
    /// `NAME= regent …` falls through to the file and the default, the way
    /// a shell user expects; everything else is taken as given.
    pub fn env(&self, name: &str) -> Option<String> {
        (self.env)(name).filter(|v| !v.trim().is_empty())
    }

    /// The flag, else the variable `env` read with `parse`, else the file's
    /// value; `None` when none of them is set, for the caller's default.
    /// A variable that does not parse is an error naming it, not a fallback.
    pub fn pick<T>(
        &self,
        flag: Option<T>,
        env: &str,
        parse: impl FnOnce(&str) -> Result<T>,
        file: Option<T>,
    ) -> Result<Option<T>> {
        if flag.is_some() {
            return Ok(flag);
        }
        if let Some(text) = self.env(env) {
            return parse(&text).map(Some);
        }
        Ok(file)
    }

    /// [`Sources::pick`] for text, which every value parses as.
    pub fn text(&self, flag: Option<String>, env: &str, file: Option<String>) -> Option<String> {
        flag.or_else(|| self.env(env)).or(file)
    }

    /// [`Sources::pick`] for a path.
    pub fn path(&self, flag: Option<PathBuf>, env: &str, file: Option<PathBuf>) -> Option<PathBuf> {
        flag.or_else(|| self.env(env).map(PathBuf::from)).or(file)
    }

    /// [`Sources::pick`] for a number, with the variable named when it is
    /// not one.
    pub fn number<T: std::str::FromStr>(
        &self,
        flag: Option<T>,
        env: &str,
        what: &str,
        file: Option<T>,
    ) -> Result<Option<T>>
    where
        T::Err: std::error::Error + Send + Sync + 'static,
    {
        self.pick(
            flag,
            env,
            |text| {
                text.parse::<T>()
                    .with_context(|| format!("{env}=`{text}` is not {what}"))
            },
            file,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn a_flag_beats_the_environment_which_beats_the_file() {
        let env = with(&[("X", "from-env")]);
        let s = Sources::new(&env);
        let pick = |flag: Option<&str>, file: Option<&str>| {
            s.text(flag.map(String::from), "X", file.map(String::from))
        };
        assert_eq!(pick(Some("flag"), Some("file")).as_deref(), Some("flag"));
        assert_eq!(pick(None, Some("file")).as_deref(), Some("from-env"));
        let none = with(&[]);
        let s = Sources::new(&none);
        assert_eq!(
            s.text(None, "X", Some("file".into())).as_deref(),
            Some("file")
        );
        assert_eq!(s.text(None, "X", None), None, "the caller's default");
    }

    #[test]
    fn an_empty_variable_is_not_set_and_a_bad_one_is_an_error() {
        let env = with(&[("PORT", " "), ("SIZE", "big")]);
        let s = Sources::new(&env);
        assert_eq!(
            s.number::<u16>(None, "PORT", "a port number", Some(9000))
                .unwrap(),
            Some(9000)
        );
        let err = s
            .number::<u64>(None, "SIZE", "a number", Some(1))
            .unwrap_err();
        assert_eq!(err.to_string(), "SIZE=`big` is not a number");
        // A flag is taken without reading the variable at all.
        assert_eq!(
            s.number::<u64>(Some(7), "SIZE", "a number", None).unwrap(),
            Some(7)
        );
    }
}
