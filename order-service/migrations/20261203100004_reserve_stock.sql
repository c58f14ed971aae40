-- Reserves the stock of all of an order's lines in one call, or none.
--
-- Called by the statement that records a new order
-- (order-service/src/placing.rs), so the common case of the saga's step 1 is
-- one round trip. Each line is the same conditional decrement as the
-- line-by-line path — an UPDATE by primary key: row lock, check and price at
-- once — taken in the order given, which the caller sorts by SKU
-- (bytewise): every writer of several stock rows locks them in that order,
-- so concurrent orders never deadlock. By primary key, so the plan does not
-- depend on the catalogue's size or statistics.
--
-- Returns the unit prices, line by line; or NULL, having put back what it
-- took, when a line is unknown or short or the total would not fit a bigint.
-- (Put back, not raised: a sold-out bestseller would otherwise fill the
-- server's log with errors. The rows stay locked by the caller's
-- transaction, so nobody else saw the decrements.) The caller then finds
-- out which line failed, and why, on the line-by-line path.
CREATE FUNCTION reserve_stock(skus text[], quantities bigint[]) RETURNS bigint[]
LANGUAGE plpgsql AS $$
DECLARE
    lines int := coalesce(cardinality(skus), 0);
    prices bigint[] := '{}';
    price bigint;
    total numeric := 0;
BEGIN
    FOR i IN 1 .. lines LOOP
        UPDATE products SET stock = stock - quantities[i]
        WHERE sku = skus[i] AND stock >= quantities[i]
        RETURNING price_cents INTO price;
        IF NOT FOUND THEN
            PERFORM put_back_stock(skus[1:i - 1], quantities[1:i - 1]);
            RETURN NULL;
        END IF;
        prices := prices || price;
        total := total + price::numeric * quantities[i];
    END LOOP;
    IF total > 9223372036854775807 THEN
        PERFORM put_back_stock(skus, quantities);
        RETURN NULL;
    END IF;
    RETURN prices;
END
$$;

-- Undoes reserve_stock's decrements of these lines, by primary key.
CREATE FUNCTION put_back_stock(skus text[], quantities bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. coalesce(cardinality(skus), 0) LOOP
        UPDATE products SET stock = stock + quantities[i] WHERE sku = skus[i];
    END LOOP;
END
$$;
