//go:build tools

// Package tools names the commands ../build.sh builds, so `go mod tidy` keeps their deps.
package tools

import (
	_ "github.com/argoproj/argo-workflows/v4/cmd/argoexec"
	_ "github.com/argoproj/argo-workflows/v4/cmd/workflow-controller"
)
