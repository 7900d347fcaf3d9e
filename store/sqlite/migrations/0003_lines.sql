-- Lines as objects of their own: the settings of a (DN, partition) that an
-- administrator added or edited. A line that only device appearances name
-- (auto-registration's, a user's extension on their phones) has no row
-- until its settings are first set. dn_num and dn_len as in lines, so the
-- auto-registration allocator skips a DN that a line holds.
CREATE TABLE directory_numbers (
    partition TEXT NOT NULL,
    dn        TEXT NOT NULL,
    dn_num    INTEGER,
    dn_len    INTEGER NOT NULL,
    data      TEXT NOT NULL,
    PRIMARY KEY (partition, dn)
);
CREATE INDEX directory_numbers_num ON directory_numbers (partition, dn_num);
