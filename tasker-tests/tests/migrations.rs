//! Start-up against a database that a newer Tasker already migrated (a rolling upgrade): an older build must
//! still start, leaving the newer migrations alone.

use sqlx::PgPool;

#[sqlx::test(migrations = false)]
async fn a_build_starts_on_a_database_migrated_by_a_newer_one(pool: PgPool) {
    tasker_shared::db::prepare(&pool).await.expect("first start-up migrates");
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations").fetch_one(&pool).await.unwrap();
    // What a newer build leaves behind: a migration this build does not know.
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (99991231000000, 'from a newer release', true, '\\x00'::bytea, 1)",
    )
    .execute(&pool)
    .await
    .unwrap();
    tasker_shared::db::prepare(&pool).await.expect("an older build still starts");
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations").fetch_one(&pool).await.unwrap();
    assert_eq!(after, before + 1, "the newer migration is left as it is, nothing is re-applied");
}
