-- command: db sdi --host db.internal --port 30015 --adapter HanaAdapter --agent DP_AGENT_1 --remote-schema MCTX_PROD --schema ANALYTICS --source MCTX_PROD_SRC
-- Smart Data Integration: the HanaAdapter of Data Provisioning agent "DP_AGENT_1".
-- Property names follow the adapter's CONFIGURATION in SYS.ADAPTERS; check them there.
CREATE REMOTE SOURCE "MCTX_PROD_SRC" ADAPTER "HanaAdapter" AT LOCATION AGENT "DP_AGENT_1" CONFIGURATION '<?xml version="1.0" encoding="UTF-8"?><ConnectionProperties name="configurations"><PropertyEntry name="host">db.internal</PropertyEntry><PropertyEntry name="port">30015</PropertyEntry><PropertyEntry name="schema">MCTX_PROD</PropertyEntry><PropertyEntry name="encrypt">true</PropertyEntry><PropertyEntry name="validateCertificate">true</PropertyEntry></ConnectionProperties>' WITH CREDENTIAL TYPE 'PASSWORD' USING '<CredentialEntry name="credential"><user>&lt;user&gt;</user><password>&lt;password&gt;</password></CredentialEntry>';
CREATE VIRTUAL TABLE "ANALYTICS"."V_MCTX_SEARCH_HISTORY" AT "MCTX_PROD_SRC"."<NULL>"."MCTX_PROD"."MCTX_SEARCH_HISTORY";
CREATE VIRTUAL TABLE "ANALYTICS"."V_MCTX_SEARCH_STATISTICS" AT "MCTX_PROD_SRC"."<NULL>"."MCTX_PROD"."MCTX_SEARCH_STATISTICS";
CREATE VIRTUAL TABLE "ANALYTICS"."V_MCTX_SEARCH_TREES" AT "MCTX_PROD_SRC"."<NULL>"."MCTX_PROD"."MCTX_SEARCH_TREES";
