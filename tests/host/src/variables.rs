//! Application and component variables, resolved the way Spin resolves them.
//!
//! Application variables (`[variables]`) get their value from, in order:
//! explicit overrides (like `spin up --variable k=v`), `SPIN_VARIABLE_<NAME>`
//! in the host process environment, then the manifest `default`. Component
//! variables (`[component.X.variables]`) are templates over application
//! variables and are the only names a component can read. Like Spin's env
//! provider, the environment is read on every lookup, not once at load.

use std::collections::HashMap;

use anyhow::{bail, Context as _};

use crate::manifest::VariableDecl;

/// A variable resolution error, with the same cases as Spin's
/// `spin_expressions::Error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VariableError {
    InvalidName(String),
    InvalidTemplate(String),
    Provider(String),
    Undefined(String),
}

impl std::fmt::Display for VariableError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InvalidName(m) => write!(f, "invalid variable name: {m}"),
            Self::InvalidTemplate(m) => write!(f, "invalid variable template: {m}"),
            Self::Provider(m) => write!(f, "provider error: {m}"),
            Self::Undefined(m) => write!(f, "undefined variable: {m}"),
        }
    }
}

impl std::error::Error for VariableError {}

/// Checks a variable name against Spin's rules: lower-case ASCII letters,
/// digits and single underscores, starting with a letter, ending with a
/// letter or digit.
pub fn validate_name(key: &str) -> Result<(), VariableError> {
    let reason = if key.is_empty() {
        Some("must not be empty".to_string())
    } else if let Some(c) = key
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
    {
        Some(format!(
            "invalid character {c:?}. Variable names may contain only lower-case letters, numbers, and underscores."
        ))
    } else if !key.as_bytes()[0].is_ascii_lowercase() {
        Some("must start with a lowercase ASCII letter".to_string())
    } else if !key.as_bytes()[key.len() - 1].is_ascii_alphanumeric() {
        Some("must end with a lowercase ASCII letter or digit".to_string())
    } else if key.contains("__") {
        Some("must not contain multiple consecutive underscores".to_string())
    } else {
        None
    };
    match reason {
        Some(reason) => Err(VariableError::InvalidName(format!("{key:?}: {reason}"))),
        None => Ok(()),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Lit(String),
    Expr(String),
}

/// A string with `{{ name }}` expressions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    pub fn parse(template: &str) -> Result<Self, VariableError> {
        let mut parts = Vec::new();
        let mut rest = template;
        while !rest.is_empty() {
            if let Some(after_open) = rest.strip_prefix("{{") {
                let (expr, after) = after_open.split_once("}}").ok_or_else(|| {
                    VariableError::InvalidTemplate("unmatched '{{' in template".into())
                })?;
                parts.push(Part::Expr(expr.trim().to_string()));
                rest = after;
            } else {
                let end = rest.find("{{").unwrap_or(rest.len());
                parts.push(Part::Lit(rest[..end].to_string()));
                rest = &rest[end..];
            }
        }
        Ok(Self { parts })
    }

    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Lit(_)))
    }

    fn expressions(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Expr(e) => Some(e.as_str()),
            Part::Lit(_) => None,
        })
    }
}

/// Where application variable values come from.
#[derive(Debug)]
pub struct Variables {
    declared: HashMap<String, VariableDecl>,
    overrides: HashMap<String, String>,
    /// component id -> variable name -> template
    components: HashMap<String, HashMap<String, Template>>,
}

impl Variables {
    /// Builds the resolver and checks, like `spin up` does at start, that every
    /// name is valid, every template refers to a declared variable and every
    /// required variable has a value.
    pub fn new(
        declared: HashMap<String, VariableDecl>,
        overrides: &[(String, String)],
        components: impl IntoIterator<Item = (String, HashMap<String, String>)>,
    ) -> anyhow::Result<Self> {
        for (name, decl) in &declared {
            validate_name(name)?;
            if decl.required && decl.default.is_some() {
                bail!("variable {name:?}: a required variable cannot have a default");
            }
            if !decl.required && decl.default.is_none() {
                bail!("variable {name:?}: must either be required or have a default");
            }
        }
        let mut resolver = Self {
            declared,
            overrides: HashMap::new(),
            components: HashMap::new(),
        };
        for (name, value) in overrides {
            if !resolver.declared.contains_key(name) {
                // Spin ignores values for undeclared variables; say so, since
                // it is almost always a typo.
                eprintln!("warning: variable {name:?} is not declared in [variables]; ignored");
            }
            resolver.overrides.insert(name.clone(), value.clone());
        }
        for (component, vars) in components {
            let templates = vars
                .into_iter()
                .map(|(key, value)| {
                    validate_name(&key)?;
                    let template = resolver.checked_template(&value)?;
                    Ok((key, template))
                })
                .collect::<Result<HashMap<_, _>, VariableError>>()
                .with_context(|| format!("component {component:?} variables"))?;
            resolver.components.insert(component, templates);
        }
        for name in resolver.declared.keys() {
            resolver.resolve_app_variable(name)?;
        }
        Ok(resolver)
    }

    /// Parses a template and checks that its expressions name declared variables.
    pub fn checked_template(&self, template: &str) -> Result<Template, VariableError> {
        let template = Template::parse(template)?;
        if let Some(unknown) = template
            .expressions()
            .find(|e| !self.declared.contains_key(*e))
        {
            return Err(VariableError::InvalidTemplate(format!(
                "unknown variable {unknown:?}"
            )));
        }
        Ok(template)
    }

    /// The value of a component variable, as `variables.get` returns it.
    pub fn get(&self, component_id: &str, name: &str) -> Result<String, VariableError> {
        validate_name(name)?;
        let templates = self.components.get(component_id).ok_or_else(|| {
            VariableError::Undefined(format!("no variable for component {component_id:?}"))
        })?;
        let template = templates.get(name).ok_or_else(|| {
            VariableError::Undefined(format!("no variable for {component_id:?}.{name:?}"))
        })?;
        self.render(template)
    }

    /// Fills a template with the current application variable values.
    pub fn render(&self, template: &Template) -> Result<String, VariableError> {
        template
            .parts
            .iter()
            .map(|part| match part {
                Part::Lit(lit) => Ok(lit.clone()),
                Part::Expr(name) => self.resolve_app_variable(name),
            })
            .collect()
    }

    fn resolve_app_variable(&self, name: &str) -> Result<String, VariableError> {
        let decl = self
            .declared
            .get(name)
            .ok_or_else(|| VariableError::InvalidName(name.to_string()))?;
        if let Some(value) = self.overrides.get(name) {
            return Ok(value.clone());
        }
        if let Ok(value) = std::env::var(env_name(name)) {
            return Ok(value);
        }
        decl.default.clone().ok_or_else(|| {
            VariableError::Provider(format!("no provider resolved required variable {name:?}"))
        })
    }
}

/// The environment variable Spin's env provider reads for `name`.
pub fn env_name(name: &str) -> String {
    format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decl(default: Option<&str>) -> VariableDecl {
        VariableDecl {
            default: default.map(str::to_string),
            required: default.is_none(),
            secret: false,
            description: None,
        }
    }

    #[test]
    fn names_follow_spin_rules() {
        for good in ["a", "abc", "a1b2c3", "a_1", "a_1_b_3"] {
            validate_name(good).expect(good);
        }
        for bad in ["", "aX", "1bc", "_x", "x.y", "x_", "a__b", "x-y"] {
            validate_name(bad).expect_err(bad);
        }
    }

    #[test]
    fn templates_split_literals_and_expressions() {
        let t = Template::parse("a-{{ x }}-b{{y}}").unwrap();
        assert_eq!(
            t.parts,
            vec![
                Part::Lit("a-".into()),
                Part::Expr("x".into()),
                Part::Lit("-b".into()),
                Part::Expr("y".into()),
            ]
        );
        assert!(Template::parse("plain").unwrap().is_literal());
        assert!(Template::parse("{{ open").is_err());
    }

    #[test]
    fn override_beats_default_and_component_sees_only_its_own() {
        let declared = HashMap::from([
            ("unit_host_a".to_string(), decl(Some("from-default"))),
            ("unit_host_b".to_string(), decl(Some("b"))),
        ]);
        let vars = Variables::new(
            declared,
            &[("unit_host_a".into(), "from-override".into())],
            [(
                "c1".to_string(),
                HashMap::from([("x".to_string(), "<{{ unit_host_a }}>".to_string())]),
            )],
        )
        .unwrap();
        assert_eq!(vars.get("c1", "x").unwrap(), "<from-override>");
        assert!(matches!(
            vars.get("c1", "unit_host_b"),
            Err(VariableError::Undefined(_))
        ));
        assert!(matches!(
            vars.get("c2", "x"),
            Err(VariableError::Undefined(_))
        ));
        assert!(matches!(
            vars.get("c1", "Bad"),
            Err(VariableError::InvalidName(_))
        ));
    }

    #[test]
    fn required_without_value_fails_at_load() {
        let declared = HashMap::from([("unit_host_required_missing".to_string(), decl(None))]);
        let err = Variables::new(declared, &[], []).unwrap_err();
        assert!(
            err.to_string()
                .contains("no provider resolved required variable"),
            "{err}"
        );
    }

    #[test]
    fn unknown_template_variable_fails_at_load() {
        let err = Variables::new(
            HashMap::new(),
            &[],
            [(
                "c".to_string(),
                HashMap::from([("x".to_string(), "{{ nope }}".to_string())]),
            )],
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("unknown variable"), "{err:#}");
    }
}
