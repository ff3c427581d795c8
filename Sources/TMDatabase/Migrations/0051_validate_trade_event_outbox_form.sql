-- 0051: validates the check 0050 added NOT VALID (the rules the rows already passed; 0035's one form
-- was never validated: rows written before it are checked now). Its own migration, so its own
-- transaction: VALIDATE scans the outbox under SHARE UPDATE EXCLUSIVE, which lets every read and
-- write go on meanwhile.
SET LOCAL lock_timeout = '5s';
ALTER TABLE trade_event_outbox VALIDATE CONSTRAINT trade_event_outbox_form;
