//! docs/configuration.md against the code, and `.env.example`.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
};

use crate::{
    code::{SERVICES, is_variable_name, reads, same},
    files, read, root,
};

/// A row of configuration.md's first table.
#[derive(Debug)]
pub(crate) struct Row {
    pub(crate) names: Vec<String>,
    /// `None`: every service (`all`, `every service…`, `each service…`).
    pub(crate) services: Option<Vec<String>>,
    /// The documented default of each name, for that service (`None`:
    /// every service of the row).
    pub(crate) defaults: Vec<(String, Option<String>, String)>,
    pub(crate) text: String,
}

pub(crate) fn spans(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

pub(crate) fn tables(markdown: &str) -> Vec<Vec<Vec<String>>> {
    let mut tables = Vec::new();
    let mut current: Vec<Vec<String>> = Vec::new();
    for line in markdown.lines() {
        if let Some(row) = line.strip_prefix('|') {
            let cells: Vec<String> = row
                .trim_end()
                .trim_end_matches('|')
                .split('|')
                .map(|c| c.trim().to_owned())
                .collect();
            if !cells
                .iter()
                .all(|c| c.chars().all(|c| c == '-' || c == ':'))
            {
                current.push(cells);
            }
        } else if !current.is_empty() {
            tables.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        tables.push(current);
    }
    tables
}

pub(crate) fn documented_rows(markdown: &str) -> Vec<Row> {
    let main = tables(markdown)
        .into_iter()
        .find(|t| t[0] == ["Variable", "Service", "Default", "Meaning"])
        .expect("docs/configuration.md has a table | Variable | Service | Default | Meaning |");
    main.into_iter()
        .skip(1)
        .map(|cells| {
            assert!(cells.len() >= 4, "a row of four cells: {cells:?}");
            let names: Vec<String> = spans(&cells[0])
                .into_iter()
                .filter(|n| is_variable_name(n))
                .collect();
            let every = ["all", "every service", "each service"]
                .iter()
                .any(|all| cells[1].starts_with(all));
            let services = (!every).then(|| {
                SERVICES
                    .iter()
                    .filter(|s| cells[1].contains(*s))
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
            });
            let values = spans(&cells[2]);
            let per_service: Vec<(String, String)> = SERVICES
                .iter()
                .filter_map(|s| {
                    let at = cells[2].find(&format!("{s} `"))?;
                    Some((s.to_string(), spans(&cells[2][at..])[0].clone()))
                })
                .collect();
            let mut defaults = Vec::new();
            for (i, name) in names.iter().enumerate() {
                if !per_service.is_empty() {
                    for (service, value) in &per_service {
                        defaults.push((name.clone(), Some(service.clone()), value.clone()));
                    }
                } else if values.len() == names.len() {
                    defaults.push((name.clone(), None, values[i].clone()));
                } else if values.len() == 1 {
                    defaults.push((name.clone(), None, values[0].clone()));
                } else if values.is_empty() {
                    defaults.push((name.clone(), None, cells[2].clone()));
                } else {
                    panic!(
                        "docs/configuration.md: cannot tell which default is whose in {cells:?}: \
                         one per variable, one for all, or `<service> `value`` each"
                    );
                }
            }
            Row {
                names,
                services,
                defaults,
                text: cells.join(" | "),
            }
        })
        .collect()
}

#[test]
pub(crate) fn every_variable_read_is_documented_with_its_default_and_nothing_else_is() {
    let reads = reads();
    let names_read: BTreeSet<&str> = reads.iter().map(|r| r.name.as_str()).collect();
    for expected in [
        "DATABASE_URL",
        "USER_SERVICE_TIMEOUT",
        "SAGA_STALE_AFTER",
        "RUST_LOG",
    ] {
        assert!(
            names_read.contains(expected),
            "the extraction missed {expected}: {names_read:?}"
        );
    }
    let rows = documented_rows(&read("docs/configuration.md"));
    let mut problems = Vec::new();

    let in_column: BTreeSet<&str> = rows
        .iter()
        .flat_map(|r| &r.names)
        .map(String::as_str)
        .collect();
    for read in &reads {
        let mentioned = rows.iter().any(|r| spans(&r.text).contains(&read.name));
        if !in_column.contains(read.name.as_str()) && !mentioned {
            problems.push(format!(
                "{} reads {}, which configuration.md does not document",
                read.at, read.name
            ));
        }
    }
    for name in &in_column {
        if !names_read.contains(name) {
            problems.push(format!(
                "configuration.md documents {name}, which no code reads"
            ));
        }
    }

    for read in reads
        .iter()
        .filter(|r| SERVICES.contains(&r.crate_name.as_str()))
    {
        let rows_of: Vec<&Row> = rows
            .iter()
            .filter(|r| r.names.contains(&read.name))
            .filter(|r| {
                r.services
                    .as_ref()
                    .is_none_or(|s| s.contains(&read.crate_name))
            })
            .collect();
        if rows_of.is_empty() && in_column.contains(read.name.as_str()) {
            problems.push(format!(
                "{} reads {}, but no row of configuration.md names {} for it",
                read.at, read.name, read.crate_name
            ));
        }
        let Some(default) = &read.default else {
            continue;
        };
        for row in rows_of {
            for (name, service, documented) in &row.defaults {
                let applies = service.as_ref().is_none_or(|s| *s == read.crate_name);
                if *name == read.name && applies && !same(default, documented) {
                    problems.push(format!(
                        "{}: {}'s default is {default:?}; configuration.md says `{documented}`",
                        read.at, read.name
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn env_example_lists_what_is_read_with_the_defaults() {
    let example = read(".env.example");
    let compose = read("docker-compose.yml");
    let configuration = read("docs/configuration.md");
    let reads = reads();

    let mut code_defaults: BTreeMap<&str, Vec<&String>> = BTreeMap::new();
    for read in &reads {
        code_defaults
            .entry(&read.name)
            .or_default()
            .extend(&read.default);
    }
    let mut doc_defaults: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for table in tables(&configuration) {
        let Some(default_column) = table[0].iter().position(|c| c == "Default") else {
            continue;
        };
        for cells in &table[1..] {
            let names: Vec<String> = spans(&cells[0])
                .into_iter()
                .filter(|n| is_variable_name(n))
                .collect();
            let cell = &cells[default_column];
            let values = spans(cell);
            for (i, name) in names.iter().enumerate() {
                let value = match values.len() {
                    0 => cell.clone(),
                    n if n == names.len() => values[i].clone(),
                    _ => values[0].clone(),
                };
                doc_defaults.entry(name.clone()).or_default().push(value);
            }
        }
    }

    let mut problems = Vec::new();
    let mut listed = BTreeSet::new();
    for line in example.lines().filter(|l| !l.starts_with('#')) {
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        listed.insert(name);
        let in_compose =
            compose.contains(&format!("${{{name}:")) || compose.contains(&format!("${{{name}}}"));
        if !code_defaults.contains_key(name) && !in_compose {
            problems.push(format!(
                ".env.example: {name} is read neither by the code nor by docker-compose.yml"
            ));
        }
        if !doc_defaults.contains_key(name) {
            problems.push(format!(
                ".env.example: {name} is not in docs/configuration.md"
            ));
        }
        if value.is_empty() {
            continue;
        }
        let ok = match code_defaults.get(name).filter(|d| !d.is_empty()) {
            Some(defaults) => defaults.iter().any(|d| same(d, value)),
            None => doc_defaults
                .get(name)
                .is_some_and(|d| d.iter().any(|d| d == value)),
        };
        if !ok {
            problems.push(format!(
                ".env.example: {name}={value}, but the code's defaults are {:?} and configuration.md's {:?}",
                code_defaults.get(name),
                doc_defaults.get(name)
            ));
        }
    }
    let words: BTreeSet<&str> = example
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .collect();
    for read in &reads {
        if !words.contains(read.name.as_str()) {
            problems.push(format!(
                "{} reads {}, which .env.example does not name",
                read.at, read.name
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The tables for `just run` and docker compose list variables that the
/// scripts, the justfile, docker-compose.yml and the deployment read, not
/// the services: each must still be named by one of those.
#[test]
fn every_variable_of_the_tooling_tables_is_used() {
    let root = root();
    let configuration = read("docs/configuration.md");
    let mut sources = vec![root.join("justfile"), root.join("docker-compose.yml")];
    for (dir, extension) in [
        ("scripts", ""),
        ("deploy", ""),
        ("tests/src", ".rs"),
        ("shared/test-support/src", ".rs"),
    ] {
        sources.extend(files(&root.join(dir), extension));
    }
    let words: BTreeSet<String> = sources
        .iter()
        .filter_map(|p| fs::read_to_string(p).ok())
        .flat_map(|text| {
            text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    let mut unused = Vec::new();
    for table in tables(&configuration).iter().skip(1) {
        assert_eq!(
            table[0][0], "Variable",
            "a table of variables: {:?}",
            table[0]
        );
        for cells in &table[1..] {
            for name in spans(&cells[0]).into_iter().filter(|n| is_variable_name(n)) {
                if !words.contains(&name) {
                    unused.push(name);
                }
            }
        }
    }
    assert!(
        unused.is_empty(),
        "docs/configuration.md lists {unused:?} for `just run` or compose, but no script, \
         justfile, docker-compose.yml or deploy/ file names them"
    );
}
