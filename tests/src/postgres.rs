//! Each service's own Postgres role and database, made by the same
//! `deploy/postgres/roles.sql` compose and `just run` use (psql, as the
//! superuser of [`crate::postgres_url`]), with the development passwords of
//! `deploy/postgres/dev.env`. Roles are server-wide, so parallel systems
//! share them (same passwords) and each has databases of its own.

use std::{collections::BTreeMap, path::PathBuf, process::Command};

/// Which role owns each of a system's databases, by service database name,
/// and the `dev.env` variable holding its password.
const OWNERS: [(&str, &str, &str); 3] = [
    ("users", "user_service", "USER_SERVICE_DB_PASSWORD"),
    ("orders", "order_service", "ORDER_SERVICE_DB_PASSWORD"),
    (
        "notifications",
        "notification_service",
        "NOTIFICATION_SERVICE_DB_PASSWORD",
    ),
];

fn postgres_dir() -> PathBuf {
    test_support::repo::root().join("deploy/postgres")
}

/// Creates `databases` (`"users"` → its name, …), each owned by its
/// service's role; returns each service's `DATABASE_URL`, as its role.
pub(crate) fn create(databases: &BTreeMap<&'static str, String>) -> BTreeMap<&'static str, String> {
    let passwords = test_support::dev_env(&postgres_dir().join("dev.env"));
    let mut psql = Command::new("psql");
    psql.arg(crate::postgres_url())
        .args(["-v", "ON_ERROR_STOP=1"]);
    // roles.sql's variables are named after the databases: users_password…
    for (service, _, var) in OWNERS {
        psql.args(["-v", &format!("{service}_password={}", passwords[var])]);
        psql.args(["-v", &format!("{service}_db={}", databases[service])]);
    }
    psql.arg("-f").arg(postgres_dir().join("roles.sql"));
    test_support::output(&mut psql);
    OWNERS
        .into_iter()
        .map(|(service, role, var)| {
            let url = crate::database_url_as(role, &passwords[var], &databases[service]);
            (service, url)
        })
        .collect()
}
