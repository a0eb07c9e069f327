//! The categories the original shop's frontend offers (the 12 that migration 0013
//! seeded) are marked `protected`: renamed or moved, never deleted. The mark is data,
//! so the API reads it instead of keeping its own copy of the list.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
ALTER TABLE categories ADD COLUMN protected BOOLEAN NOT NULL DEFAULT false;
UPDATE categories SET protected = true
 WHERE code IN ('FRUITS_VEGETABLES', 'DAIRY_BAKERY', 'SNACKS_BRANDED_FOODS', 'BEVERAGES',
                'PERSONAL_CARE', 'HOUSEHOLD_SUPPLIES', 'MEAT_SEAFOOD', 'GOURMET_WORLD_FOOD',
                'BABY_CARE', 'CLEANING_HOUSEHOLD', 'STAPLES', 'PET_CARE');
"#;

const DOWN: &str = r#"
ALTER TABLE categories DROP COLUMN protected;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_sql(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_sql(manager, DOWN).await
    }
}
