// A MySQL client that connects the way KFP 2.17.0's API and cache servers do, for
// scripts/check_kfp_mysql_tls.py: the DSN of their client.CreateMySQLConfig (the same fixed
// parameters, then the extra ones from DBConfig.MySQLConfig.ExtraParams or --db_extra_params),
// opened with go-sql-driver/mysql. It prints the session's TLS version, or the error, and exits 1 on error.
//
//	kfp-mysql-client USER PASSWORD HOST PORT EXTRA_PARAMS_JSON
package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"os"

	"github.com/go-sql-driver/mysql"
)

func main() {
	if len(os.Args) != 6 {
		fmt.Fprintln(os.Stderr, "usage: kfp-mysql-client USER PASSWORD HOST PORT EXTRA_PARAMS_JSON")
		os.Exit(2)
	}
	user, password, host, port, extra := os.Args[1], os.Args[2], os.Args[3], os.Args[4], os.Args[5]
	params := map[string]string{"charset": "utf8", "parseTime": "True", "loc": "Local", "group_concat_max_len": "4194304"}
	extraParams := map[string]string{}
	if err := json.Unmarshal([]byte(extra), &extraParams); err != nil {
		fmt.Fprintln(os.Stderr, "extra params:", err)
		os.Exit(2)
	}
	for key, value := range extraParams {
		params[key] = value
	}
	config := &mysql.Config{User: user, Passwd: password, Net: "tcp", Addr: host + ":" + port, Params: params, AllowNativePasswords: true}
	db, err := sql.Open("mysql", config.FormatDSN())
	if err == nil {
		defer db.Close()
		var name, version string
		err = db.QueryRow("SHOW SESSION STATUS LIKE 'Ssl_version'").Scan(&name, &version)
		if err == nil {
			fmt.Printf("connected, %s=%q\n", name, version)
			return
		}
	}
	fmt.Println("error:", err)
	os.Exit(1)
}
