-- query: ping
SELECT 1 FROM DUMMY
