-- The two partition tables take bulk writes of 100k rows and more: a foreign key to namespaces
-- costs a lookup and a row lock per row. A write now holds its namespace once (a shared advisory
-- lock, then a check that it exists) and the namespace's deletion deletes these rows itself
-- (storage/namespaces.py). The names are the ones Postgres gave the keys in 0010, which the Citus
-- migrator keeps when it adds them back after distributing.
ALTER TABLE arti_storage_partitions DROP CONSTRAINT IF EXISTS arti_storage_partitions_namespace_id_fkey;

ALTER TABLE arti_snapshot_partitions DROP CONSTRAINT IF EXISTS arti_snapshot_partitions_namespace_id_fkey;
