// Our own pause program: the sandbox ("pause") container of every pod (../build.sh).
module openct.local/kind-node/pause

go 1.23
