"""arti's Connection: graphs, snapshots, snapshot tags, partitions and lineage of a namespace."""
