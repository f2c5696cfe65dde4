-- bootstrap: migration_prelude
SET TRANSACTION AUTOCOMMIT DDL OFF
