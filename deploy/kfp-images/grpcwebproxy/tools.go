//go:build tools

// Package tools names the command ../build.sh builds, so `go mod tidy` keeps its deps.
package tools

import (
	_ "github.com/improbable-eng/grpc-web/go/grpcwebproxy"
)
