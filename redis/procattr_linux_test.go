package redis_test

import (
	"os/exec"
	"syscall"
)

// orphanProof makes cmd die with the test binary, even when the binary is
// killed (a go test timeout) before its cleanups run.
func orphanProof(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
