-- The order saga's durable state. An order is `pending` while its saga runs
-- and ends `confirmed` or `rejected`; `saga_step` says what the saga does
-- next, so a saga interrupted by a crash resumes where it stopped:
--   charging      stock is reserved; next: debit the user's credit
--   compensating  the order will be rejected; next: refund whatever the
--                 debit took (Refund is a no-op when it took nothing), then
--                 release the stock
--   done          nothing left to do
ALTER TABLE orders
    ADD COLUMN saga_step text NOT NULL DEFAULT 'done'
        CHECK (saga_step IN ('charging', 'compensating', 'done')),
    -- Why the order was rejected, in words a customer can read.
    ADD COLUMN reason text,
    -- The error code of the rejection (contracts::ErrorCode), for the API.
    ADD COLUMN reason_code text;

-- Recovery looks for sagas left in flight.
CREATE INDEX orders_pending ON orders (updated_at) WHERE status = 'pending';
