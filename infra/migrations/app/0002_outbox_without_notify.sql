-- No NOTIFY on the write path: a transaction that has issued NOTIFY takes
-- PostgreSQL's cluster-wide notify lock at commit and holds it through the
-- WAL flush, so the statement trigger of 0001 serialised every writing
-- transaction behind one lock. audit-relay finds work by polling the outbox
-- instead (fast while there is work, backing off to --poll-interval when
-- idle); see docs/audit-relay.md.
--
-- IF EXISTS: a database whose trigger was dropped by hand upgrades too.
DROP TRIGGER IF EXISTS audit_outbox_notify ON audit_outbox;
DROP FUNCTION IF EXISTS audit_outbox_notify();
