//go:build tools

// Package tools names the command ../build.sh builds (etcd), so `go mod tidy` keeps its deps.
package tools

import _ "go.etcd.io/etcd/server/v3"
