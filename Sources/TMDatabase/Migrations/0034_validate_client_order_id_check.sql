-- 0034: validates the client order id's check that 0033 added NOT VALID (same rule as before). Its
-- own migration, so its own transaction: VALIDATE scans `orders` under SHARE UPDATE EXCLUSIVE,
-- which lets every read and write of orders go on meanwhile.
SET LOCAL lock_timeout = '5s';
ALTER TABLE orders VALIDATE CONSTRAINT orders_client_order_id_check;
