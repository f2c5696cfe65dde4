-- connstr: DRIVER=HDBODBC;SERVERNODE=abc.hana.prod-eu10.hanacloud.ondemand.com:443;UID=MCTX;PWD={p;w}}x};dialect=hana
dialect=hana
DRIVER=HDBODBC;SERVERNODE=abc.hana.prod-eu10.hanacloud.ondemand.com:443;UID=MCTX;PWD={p;w}}x};ENCRYPT=TRUE;sslValidateCertificate=TRUE;CHAR_AS_UTF8=TRUE;sessionVariable:APPLICATION=mctx;
