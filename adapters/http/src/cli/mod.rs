//! The binary's subcommands that need more than a line: `clients`, and the environment
//! `serve --help` lists.

pub mod clients;

/// What `boxtrace serve --help` says after the options: every environment variable the
/// server reads. A test checks that each `BOXTRACE_*` name the configuration reads is here.
pub const SERVE_ENVIRONMENT: &str = "\
Environment (each overrides the same key of --config; boxtrace.example.toml lists every key):
  BOXTRACE_CONFIG                      the TOML configuration file (as --config)
  BOXTRACE_LISTEN                      address:port to listen on [default: 127.0.0.1:8080]
  BOXTRACE_DATA_DIR                    the sled data directory [default: boxtrace-data]
  BOXTRACE_TOKEN_KEY                   key signing access tokens, at least 32 bytes [required]
  BOXTRACE_OPERATOR_TOKEN              the operator token (/admin), at least 32 bytes [default: unset, /admin off]
  BOXTRACE_CLIENT_CACHE_TTL            how long a client's status is trusted without a store read [default: 5s]
  BOXTRACE_PROVIDERS                   comma-separated provider ids, e.g. ictsi,sim [default: sim]
  BOXTRACE_<PROVIDER>_<NAME>           a provider credential, e.g. BOXTRACE_ICTSI_SUBSCRIPTION_KEY
  BOXTRACE_ALLOW_PRIVATE_WEBHOOKS      allow web-hooks to loopback and private addresses [default: false]
  BOXTRACE_ALLOW_INSECURE_WEBHOOKS     allow http web-hook URLs (otherwise https only) [default: false]
  BOXTRACE_LEASE_SECS                  how long a claimed job stays leased, in seconds [default: 60]
  BOXTRACE_RETENTION                   how long finished jobs are kept, e.g. 30days; off keeps all [default: 30days]
  BOXTRACE_DATABASE_URL                PostgreSQL URL; set, the store is PostgreSQL instead of sled
  BOXTRACE_DATABASE_SCHEMA             PostgreSQL schema of the tables [default: boxtrace]
  BOXTRACE_DATABASE_POOL_SIZE          PostgreSQL connections per process [default: 16]
  BOXTRACE_DATABASE_STATEMENT_TIMEOUT  longest one PostgreSQL statement, e.g. 5s [default: 5s]
  BOXTRACE_DATABASE_OPERATION_TIMEOUT  longest one PostgreSQL store operation [default: 10s]
  BOXTRACE_STORE_STALL_LIMIT           longest one sled write batch before the process stops [default: 60s]
  BOXTRACE_ACCEPT_DATA_LOSS            open a sled store that lacks acknowledged writes [default: false]
  BOXTRACE_LOG                         log filter, RUST_LOG syntax [default: info]
  RUST_LOG                             log filter; overrides BOXTRACE_LOG and the file's log";
