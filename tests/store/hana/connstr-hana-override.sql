-- connstr: DRIVER=/usr/sap/hdbclient/libodbcHDB.so;SERVERNODE=h:30015;UID=u;PWD=p;ENCRYPT=FALSE;sslValidateCertificate=FALSE;sessionVariable:APPLICATION=mctx-batch;dialect=HANA
dialect=hana
DRIVER=/usr/sap/hdbclient/libodbcHDB.so;SERVERNODE=h:30015;UID=u;PWD=p;ENCRYPT=FALSE;sslValidateCertificate=FALSE;sessionVariable:APPLICATION=mctx-batch;CHAR_AS_UTF8=TRUE;
