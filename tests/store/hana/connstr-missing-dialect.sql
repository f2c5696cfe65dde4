-- connstr: DRIVER=HDBODBC;SERVERNODE=h:443
error: odbc: say which SQL the database speaks: add dialect=hana or dialect=postgresql
