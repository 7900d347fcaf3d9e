-- Auto-registration storms write a device and a line per phone, and every
-- index is one more B-tree to update in that write. lines_dn_text repeated
-- what lines_auto_dn answers (the only lookup by DN text is for DNs taken
-- by auto-registration), and auto-registered devices have no owner, so the
-- owner index leaves them out; "owner = ?" still uses it.
DROP INDEX lines_dn_text;
DROP INDEX devices_owner;
CREATE INDEX devices_owner ON devices (owner) WHERE owner IS NOT NULL;
