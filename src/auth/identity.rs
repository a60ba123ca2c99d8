//! Who is calling: the identity a request's credentials stand for. Part of every handler
//! call's context, so it sits below the handlers and the access checks.

use serde_json::Value;

/// The caller.
#[derive(Clone, Debug, PartialEq)]
pub enum Identity {
    /// `auth.type = "none"`: nobody is known and everyone may do everything.
    Anyone,
    /// No credentials were presented.
    Nobody,
    /// A local account, through one of its tokens.
    User {
        name: String,
        email: String,
        readonly: bool,
    },
    /// A GitHub user, with the token used to ask GitHub about repositories.
    GitHub { login: String, token: String },
}

impl Identity {
    /// The user name, for identities that have one.
    pub fn name(&self) -> Option<&str> {
        match self {
            Identity::User { name, .. } => Some(name),
            Identity::GitHub { login, .. } => Some(login),
            Identity::Anyone | Identity::Nobody => None,
        }
    }

    /// `{name, email}` as package documents record people.
    pub fn person(&self) -> Option<Value> {
        match self {
            Identity::User { name, email, .. } => {
                Some(serde_json::json!({"name": name, "email": email}))
            }
            Identity::GitHub { login, .. } => Some(serde_json::json!({"name": login, "email": ""})),
            _ => None,
        }
    }
}
