//! A throw-away PostgreSQL schema for one benchmark run.

use anyhow::Context as _;

/// A schema made for one run; [`Schema::drop`] removes it and all it holds.
#[derive(Debug)]
pub struct Schema {
    url: String,
    name: String,
}

impl Schema {
    /// Creates `<prefix>_<pid>_<nanos>`.
    pub async fn create(url: &str, prefix: &str) -> anyhow::Result<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .subsec_nanos();
        let name = format!("{prefix}_{}_{nanos}", std::process::id());
        let schema = Self {
            url: url.to_owned(),
            name,
        };
        schema
            .execute(&format!("CREATE SCHEMA {}", schema.name))
            .await?;
        Ok(schema)
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drops it.
    pub async fn drop(self) -> anyhow::Result<()> {
        self.execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name))
            .await
    }

    async fn execute(&self, sql: &str) -> anyhow::Result<()> {
        let (client, connection) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls)
            .await
            .context("connecting to PostgreSQL")?;
        let driver = tokio::spawn(connection);
        client.batch_execute(sql).await?;
        drop(client);
        let _ = driver.await;
        Ok(())
    }
}
