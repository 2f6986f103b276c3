package main

import "github.com/qsessions/qsessions/device"

// newDeviceParser returns the DeviceParser of the demo and the sessions
// command: uap-core's regexes, compiled on first use.
func newDeviceParser() *device.Parser { return device.New(nil) }
