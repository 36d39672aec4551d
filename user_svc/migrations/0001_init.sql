-- db_user starts empty; user_svc's tables arrive in the following migrations.
SELECT 1;
