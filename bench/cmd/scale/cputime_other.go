//go:build !linux

package main

import "time"

// cpuTime and threadCPU are measured on Linux only; elsewhere they are
// zero, and so are the CPU figures.
func cpuTime() time.Duration   { return 0 }
func threadCPU() time.Duration { return 0 }
