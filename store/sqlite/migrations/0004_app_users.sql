-- Application users: the logins of the administrative interfaces (AXL,
-- RisPort70), apart from end users. data holds the roles and the
-- password hash.
CREATE TABLE app_users (
    id   TEXT PRIMARY KEY,
    data TEXT NOT NULL
);
