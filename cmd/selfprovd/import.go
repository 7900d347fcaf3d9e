package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"selfprov/admin"
	"selfprov/configs"
	"selfprov/provision"
)

const importUsage = `usage: selfprovd import [-users FILE] [-phones FILE] [flags]

Bulk import, as CUCM's Bulk Administration Tool, into a running selfprovd
through its admin API. Each file is created whole or not at all; a refused
file is reported row by row (FILE:LINE: COLUMN: what is wrong) and nothing
of it is written. Users are imported before phones, so a phones file can
name the users of the users file as owners.

users file columns (first line):  ` + "userId,lastName[,firstName,email,selfServiceId,primaryExtension,partition,userProfile,webexPolicy,pin,password]" + `
phones file columns (first line): ` + "deviceName,model[,description,owner,deviceTemplate,lineTemplate,line1,line1Partition,line2,...]" + `

Flags:
`

// runImport posts the files to the admin API of a running daemon: the
// store belongs to the daemon (one process holds the database), and the
// daemon's core checks every row as it checks the API's other changes.
func runImport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("selfprovd import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, importUsage)
		fs.PrintDefaults()
	}
	var (
		users      = fs.String("users", "", "users CSV file")
		phones     = fs.String("phones", "", "phones CSV file")
		configPath = fs.String("config", "", "the daemon's configuration, for its admin address, data directory and token (default: the built-in demo)")
		adminAddr  = fs.String("admin", "", "the daemon's admin address (default: listen.admin of the configuration, 127.0.0.1:9080)")
		dataDir    = fs.String("data-dir", "", "the daemon's data directory, where admin-token is (default: dataDir of the configuration, ./data)")
		token      = fs.String("token", "", "admin bearer token (default: adminToken of the configuration, else <data-dir>/admin-token)")
		timeout    = fs.Duration("timeout", 10*time.Minute, "bound on each file's import")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 || (*users == "" && *phones == "") {
		fmt.Fprintln(stderr, "selfprovd import: give -users FILE, -phones FILE or both")
		fs.Usage()
		return 2
	}
	var cfg *configs.Config
	var err error
	if *configPath == "" {
		cfg, err = configs.Demo()
	} else {
		cfg, err = configs.Load(*configPath)
	}
	if err != nil {
		fmt.Fprintf(stderr, "selfprovd import: %v\n", err)
		return 1
	}
	if *adminAddr == "" {
		*adminAddr = cfg.Listen.Admin
	}
	if *dataDir == "" {
		*dataDir = cfg.DataDir
	}
	if *token == "" {
		*token = cfg.AdminToken
	}
	if *token == "" {
		b, err := os.ReadFile(filepath.Join(*dataDir, admin.TokenFile))
		if err != nil {
			fmt.Fprintf(stderr, "selfprovd import: the admin token: %v (start the daemon first, or give -token or -data-dir)\n", err)
			return 1
		}
		*token = strings.TrimSpace(string(b))
	}
	base := "http://" + dialable(*adminAddr) + "/api/v1/import/"
	client := &http.Client{Timeout: *timeout}
	for _, f := range []struct{ kind, path, noun string }{{"users", *users, "users"}, {"phones", *phones, "phones"}} {
		if f.path == "" {
			continue
		}
		n, err := importFile(ctx, client, base+f.kind, *token, f.path, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "selfprovd import: %s: %v\n", f.path, err)
			return 1
		}
		fmt.Fprintf(stdout, "%s: %d %s created\n", f.path, n, f.noun)
	}
	return 0
}

// dialable turns a listen address with a wildcard host into one to dial.
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// importFile posts one file; a refusal prints every row to stderr.
func importFile(ctx context.Context, client *http.Client, url, token, path string, stderr io.Writer) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, f)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "text/csv")
	res, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%w (is selfprovd running, and is -admin its admin address?)", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return 0, err
	}
	if res.StatusCode == http.StatusOK {
		var r provision.ImportResult
		if err := json.Unmarshal(body, &r); err != nil {
			return 0, fmt.Errorf("answer: %w", err)
		}
		return r.Created, nil
	}
	var e struct {
		Code    string                     `json:"code"`
		Message string                     `json:"message"`
		Errors  []provision.ImportRowError `json:"errors"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Code == "" {
		return 0, fmt.Errorf("%s: %s", res.Status, strings.TrimSpace(string(body)))
	}
	for _, r := range e.Errors {
		if r.Column != "" {
			fmt.Fprintf(stderr, "%s:%d: %s: %s\n", path, r.Line, r.Column, r.Message)
		} else {
			fmt.Fprintf(stderr, "%s:%d: %s\n", path, r.Line, r.Message)
		}
	}
	return 0, fmt.Errorf("%s %s", e.Code, e.Message)
}
