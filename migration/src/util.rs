//! Small helpers shared by the migrations.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

/// A timestamp column with time zone, `NOT NULL`.
pub fn ts<T: IntoIden>(col: T) -> ColumnDef {
    timestamp_with_time_zone(col)
}

/// A nullable timestamp column with time zone.
pub fn ts_null<T: IntoIden>(col: T) -> ColumnDef {
    timestamp_with_time_zone_null(col)
}

/// A foreign key from `from.col` to `to.to_col`, deleting dependants with their parent.
pub fn fk_cascade<A, B, C, D>(from: A, col: B, to: C, to_col: D) -> ForeignKeyCreateStatement
where
    A: IntoIden + 'static,
    B: IntoIden + 'static,
    C: IntoIden + 'static,
    D: IntoIden + 'static,
{
    ForeignKey::create()
        .from(from, col)
        .to(to, to_col)
        .on_delete(ForeignKeyAction::Cascade)
        .take()
}

/// A foreign key that keeps the dependant row and clears the reference when the parent goes.
pub fn fk_set_null<A, B, C, D>(from: A, col: B, to: C, to_col: D) -> ForeignKeyCreateStatement
where
    A: IntoIden + 'static,
    B: IntoIden + 'static,
    C: IntoIden + 'static,
    D: IntoIden + 'static,
{
    ForeignKey::create()
        .from(from, col)
        .to(to, to_col)
        .on_delete(ForeignKeyAction::SetNull)
        .take()
}

/// A plain foreign key (the parent cannot be deleted while referenced).
pub fn fk<A, B, C, D>(from: A, col: B, to: C, to_col: D) -> ForeignKeyCreateStatement
where
    A: IntoIden + 'static,
    B: IntoIden + 'static,
    C: IntoIden + 'static,
    D: IntoIden + 'static,
{
    ForeignKey::create().from(from, col).to(to, to_col).take()
}

/// Creates an index named `name` over `cols` of `table`.
pub async fn index<T: IntoIden + 'static, C: IntoIden + 'static>(
    manager: &SchemaManager<'_>,
    name: &str,
    table: T,
    cols: impl IntoIterator<Item = C>,
    unique: bool,
) -> Result<(), DbErr> {
    let mut stmt = Index::create().name(name).table(table).take();
    for c in cols {
        stmt.col(c);
    }
    if unique {
        stmt.unique();
    }
    manager.create_index(stmt).await
}
