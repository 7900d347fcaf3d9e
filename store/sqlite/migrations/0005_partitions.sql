-- Route partitions and calling search spaces, named objects as the
-- templates are. A calling search space's document lists its partitions
-- in order. The empty partition (<None>) has no row.
CREATE TABLE partitions (name TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE calling_search_spaces (name TEXT PRIMARY KEY, data TEXT NOT NULL);
