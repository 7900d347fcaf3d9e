-- Application users: the logins of the administrative interfaces (AXL,
-- RisPort70), apart from end users. Keyed by user ID in name, as the
-- other named objects; data holds the roles and the password hash.
CREATE TABLE app_users (
    name TEXT PRIMARY KEY,
    data TEXT NOT NULL
);
