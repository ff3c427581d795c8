-- 0049: validates the check 0048 added NOT VALID (the rules the rows already passed). Its own
-- migration, so its own transaction: VALIDATE scans `orders` under SHARE UPDATE EXCLUSIVE, which lets
-- every read and write of orders go on meanwhile.
SET LOCAL lock_timeout = '5s';
ALTER TABLE orders VALIDATE CONSTRAINT orders_rules;
