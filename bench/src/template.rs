//! What template.yaml deploys, read from it rather than copied: each
//! function's binary, routes (none for an event function), memory size,
//! timeout and variables.
//!
//! yaml-rust2 reads CloudFormation's tags (`!Ref`, `!Sub`, `!If`, ...) as
//! their untagged values, so `MONGODB_DB: !Ref MongoDbDatabase` reads as the
//! parameter's name, which is looked up among the template's Parameters.

use std::path::Path;

use yaml_rust2::{Yaml, YamlLoader};

/// Lambda's default when neither the function nor Globals sets one.
const LAMBDA_DEFAULT_MEMORY_MB: u64 = 128;
const LAMBDA_DEFAULT_TIMEOUT_S: u64 = 3;

#[derive(Debug, Clone)]
pub struct Function {
    /// The resource's logical id, e.g. `LoginFunction`.
    pub resource: String,
    /// `Metadata.BuildProperties.Binary`: the binary cargo builds.
    pub binary: String,
    pub memory_mb: u64,
    pub timeout_s: u64,
    /// `(method, path)` of each HttpApi event, in template order; empty for a
    /// function other events trigger (a queue, a schedule, a rotation).
    pub routes: Vec<(String, String)>,
    /// `Environment.Variables`, each a literal or a parameter's default.
    pub variables: Vec<(String, Variable)>,
    /// Lambda's logging variables from `LoggingConfig` (AWS_LAMBDA_LOG_LEVEL, ...).
    pub logging: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Variable {
    Literal(String),
    /// A `!Ref` to a parameter, with its default if it has one.
    Parameter {
        name: String,
        default: Option<String>,
    },
}

pub struct Template {
    pub functions: Vec<Function>,
}

impl Template {
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| format!("{}: {error}", path.display()))?;
        Self::parse(&text).map_err(|error| format!("{}: {error}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let yaml = YamlLoader::load_from_str(text)
            .map_err(|error| error.to_string())?
            .into_iter()
            .next()
            .ok_or("empty")?;
        let globals = &yaml["Globals"]["Function"];
        let parameters = &yaml["Parameters"];
        let mut functions = Vec::new();
        let resources = yaml["Resources"].as_hash().ok_or("no Resources")?;
        for (name, resource) in resources {
            if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
                continue;
            }
            let name = name.as_str().ok_or("a resource name is not a string")?;
            let properties = &resource["Properties"];
            let routes: Vec<(String, String)> = properties["Events"]
                .as_hash()
                .into_iter()
                .flatten()
                .filter(|(_, event)| event["Type"].as_str() == Some("HttpApi"))
                .filter_map(|(_, event)| {
                    let event = &event["Properties"];
                    Some((
                        event["Method"].as_str()?.to_uppercase(),
                        event["Path"].as_str()?.to_string(),
                    ))
                })
                .collect();
            let binary = resource["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .ok_or_else(|| format!("{name} has no Metadata.BuildProperties.Binary"))?
                .to_string();
            let number = |key: &str, default: u64| {
                [&properties[key], &globals[key]]
                    .into_iter()
                    .find_map(|value| match value {
                        Yaml::Integer(n) => u64::try_from(*n).ok(),
                        _ => None,
                    })
                    .unwrap_or(default)
            };
            let mut variables = Vec::new();
            for scope in [globals, properties] {
                for (key, value) in scope["Environment"]["Variables"]
                    .as_hash()
                    .into_iter()
                    .flatten()
                {
                    let key = key
                        .as_str()
                        .ok_or_else(|| format!("{name}: a variable name is not a string"))?;
                    let value = variable(value, parameters)
                        .ok_or_else(|| format!("{name}: {key} is not a plain value or !Ref"))?;
                    variables.retain(|(existing, _)| existing != key);
                    variables.push((key.to_string(), value));
                }
            }
            let mut logging = Vec::new();
            for (key, variable) in [
                ("LogFormat", "AWS_LAMBDA_LOG_FORMAT"),
                ("ApplicationLogLevel", "AWS_LAMBDA_LOG_LEVEL"),
            ] {
                let value = [
                    &properties["LoggingConfig"][key],
                    &globals["LoggingConfig"][key],
                ]
                .into_iter()
                .find_map(Yaml::as_str);
                if let Some(value) = value {
                    logging.push((variable.to_string(), value.to_string()));
                }
            }
            functions.push(Function {
                resource: name.to_string(),
                binary,
                memory_mb: number("MemorySize", LAMBDA_DEFAULT_MEMORY_MB),
                timeout_s: number("Timeout", LAMBDA_DEFAULT_TIMEOUT_S),
                routes,
                variables,
                logging,
            });
        }
        Ok(Self { functions })
    }
}

/// A variable's value: a scalar, or (read untagged) the name of a parameter,
/// or `!Join [sep, !Ref List]` of a list parameter (read untagged, the pair),
/// whose default is already the joined text.
fn variable(value: &Yaml, parameters: &Yaml) -> Option<Variable> {
    let text = match value {
        Yaml::Array(join) if join.len() == 2 && join[0].as_str().is_some() => {
            return variable(&join[1], parameters)
        }
        Yaml::String(text) => text.clone(),
        Yaml::Integer(n) => n.to_string(),
        Yaml::Real(text) => text.clone(),
        Yaml::Boolean(b) => b.to_string(),
        _ => return None,
    };
    let parameter = &parameters[text.as_str()];
    if parameter.is_badvalue() {
        return Some(Variable::Literal(text));
    }
    let default = match &parameter["Default"] {
        Yaml::String(text) => Some(text.clone()),
        Yaml::Integer(n) => Some(n.to_string()),
        Yaml::Real(text) => Some(text.clone()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    };
    Some(Variable::Parameter {
        name: text,
        default,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = r#"
Parameters:
  Pool:
    Type: Number
    Default: 2
  SecretArn:
    Type: String
Globals:
  Function:
    MemorySize: 256
    Timeout: 10
    LoggingConfig:
      LogFormat: JSON
      ApplicationLogLevel: INFO
Resources:
  Queue:
    Type: AWS::SQS::Queue
  LoginFunction:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties:
        Binary: login
    Properties:
      MemorySize: 1769
      ReservedConcurrentExecutions: !If [Reserve, !Ref Pool, !Ref AWS::NoValue]
      Environment:
        Variables:
          MONGODB_MAX_POOL_SIZE: !Ref Pool
          JWT_SECRET_ARN: !Ref SecretArn
          JWT_ISSUER: issuer
      Events:
        Login:
          Type: HttpApi
          Properties:
            Path: /auth/login
            Method: post
  WorkerFunction:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties:
        Binary: worker
    Properties:
      Events:
        Tick:
          Type: ScheduleV2
"#;

    #[test]
    fn functions_with_sizes_routes_and_variables() {
        let template = Template::parse(TEMPLATE).unwrap();
        assert_eq!(template.functions.len(), 2, "every function, not the queue");
        let login = &template.functions[0];
        assert_eq!(login.binary, "login");
        assert_eq!(login.memory_mb, 1769);
        assert_eq!(login.timeout_s, 10);
        assert_eq!(
            login.routes,
            [("POST".to_string(), "/auth/login".to_string())]
        );
        assert_eq!(
            login.variables,
            [
                (
                    "MONGODB_MAX_POOL_SIZE".to_string(),
                    Variable::Parameter {
                        name: "Pool".into(),
                        default: Some("2".into())
                    }
                ),
                (
                    "JWT_SECRET_ARN".to_string(),
                    Variable::Parameter {
                        name: "SecretArn".into(),
                        default: None
                    }
                ),
                ("JWT_ISSUER".to_string(), Variable::Literal("issuer".into())),
            ]
        );
        assert_eq!(login.logging.len(), 2);
        let worker = &template.functions[1];
        assert_eq!(worker.binary, "worker");
        assert!(worker.routes.is_empty(), "a schedule is no route");
        assert_eq!((worker.memory_mb, worker.timeout_s), (256, 10));
    }

    #[test]
    fn the_repository_template_deploys_every_function() {
        let template = Template::load(&crate::options::repository().join("template.yaml")).unwrap();
        let binaries: Vec<&str> = template
            .functions
            .iter()
            .map(|f| f.binary.as_str())
            .collect();
        for binary in [
            "register",
            "login",
            "get-full-profile",
            "delete-user",
            "send-mail",
            "ingest-events",
            "publish-events",
            "rotate-signing-keys",
        ] {
            assert!(binaries.contains(&binary), "{binaries:?}");
        }
        assert!(template.functions.iter().all(|f| f.memory_mb >= 128));
    }
}
