-- command: db sdi --host abc.hana.prod-eu10.hanacloud.ondemand.com
-- Smart Data Access: the hanaodbc adapter, no agent needed.
CREATE REMOTE SOURCE "MCTX_SOURCE" ADAPTER "hanaodbc" CONFIGURATION 'ServerNode=abc.hana.prod-eu10.hanacloud.ondemand.com:443;Driver=libodbcHDB.so;encrypt=TRUE;sslValidateCertificate=TRUE' WITH CREDENTIAL TYPE 'PASSWORD' USING 'user=<user>;password=<password>';
CREATE VIRTUAL TABLE "MCTX_REMOTE"."V_MCTX_SEARCH_HISTORY" AT "MCTX_SOURCE"."<NULL>"."MCTX"."MCTX_SEARCH_HISTORY";
CREATE VIRTUAL TABLE "MCTX_REMOTE"."V_MCTX_SEARCH_STATISTICS" AT "MCTX_SOURCE"."<NULL>"."MCTX"."MCTX_SEARCH_STATISTICS";
CREATE VIRTUAL TABLE "MCTX_REMOTE"."V_MCTX_SEARCH_TREES" AT "MCTX_SOURCE"."<NULL>"."MCTX"."MCTX_SEARCH_TREES";
