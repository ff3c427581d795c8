-- 0056: validates 0055's `order_events_form` on the rows written before it (one step each, their
-- details passed 0011's check). Its own transaction, so the scan holds SHARE UPDATE EXCLUSIVE only:
-- writers go on (as 0034, 0049, 0051).
SET LOCAL lock_timeout = '5s';
ALTER TABLE order_events VALIDATE CONSTRAINT order_events_form;
