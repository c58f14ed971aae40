-- Included by roles.sql in each service's database: the public schema and
-- every table and view in it become :'owner''s. A no-op for a
-- database the role created itself.
SELECT format('ALTER SCHEMA public OWNER TO %I', :'owner')
WHERE (SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'public')
    NOT IN (:'owner', 'pg_database_owner') \gexec
SELECT format('ALTER TABLE public.%I OWNER TO %I', c.relname, :'owner')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')
  AND pg_get_userbyid(c.relowner) <> :'owner' \gexec
