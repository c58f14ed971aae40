-- A refund that finds no debit to give back voids the debit's key with a
-- zero-amount 'void' entry. A debit still on its way (sent before the saga
-- gave up on it, delayed past its caller's deadline) then finds its key taken
-- and is refused, instead of taking credit for an order already rejected.
-- A void moves no money: balance = top-ups - debits + refunds still holds.
ALTER TABLE credit_entries
    DROP CONSTRAINT credit_entries_kind_check,
    ADD CONSTRAINT credit_entries_kind_check
        CHECK (kind IN ('top_up', 'debit', 'refund', 'void')),
    DROP CONSTRAINT credit_entries_amount_cents_check,
    ADD CONSTRAINT credit_entries_amount_cents_check
        CHECK (amount_cents > 0 OR (kind = 'void' AND amount_cents = 0));
