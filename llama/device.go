package llama

/*
#include <stdlib.h>
#include "binding.h"
*/
import "C"

import (
	"fmt"
	"os"
)

// DeviceType is the kind of a compute device.
type DeviceType int

// Device types, as ggml reports them.
const (
	DeviceCPU   DeviceType = iota // the CPU, using system memory
	DeviceGPU                     // a GPU with its own memory
	DeviceIGPU                    // an integrated GPU using system memory
	DeviceAccel                   // an accelerator used with the CPU (BLAS, AMX)
)

// String returns ggml's name for the type, e.g. "GPU".
func (t DeviceType) String() string {
	switch t {
	case DeviceCPU:
		return "CPU"
	case DeviceGPU:
		return "GPU"
	case DeviceIGPU:
		return "iGPU"
	case DeviceAccel:
		return "ACCEL"
	}
	return fmt.Sprintf("DeviceType(%d)", int(t))
}

// Device is a compute device llama.cpp can use.
type Device struct {
	Name        string
	Description string
	Type        DeviceType
	FreeMemory  uint64 // bytes
	TotalMemory uint64 // bytes
}

// Devices lists the compute devices of the backends compiled in or loaded
// with LoadBackends.
func Devices() []Device {
	n := int(C.ggml_backend_dev_count())
	out := make([]Device, 0, n)
	for i := 0; i < n; i++ {
		d := C.ggml_backend_dev_get(C.size_t(i))
		var free, total C.size_t
		C.ggml_backend_dev_memory(d, &free, &total)
		out = append(out, Device{
			Name:        C.GoString(C.ggml_backend_dev_name(d)),
			Description: C.GoString(C.ggml_backend_dev_description(d)),
			Type:        DeviceType(C.ggml_backend_dev_type(d)),
			FreeMemory:  uint64(free),
			TotalMemory: uint64(total),
		})
	}
	return out
}

// LoadBackends loads the ggml backend plugins (libggml-*.so, e.g. CUDA or
// Vulkan builds) found in dir. Loading is process-global; load before
// LoadModel so models can use the devices. The plugins' log lines go where
// SetLogOutput sends this package's.
func LoadBackends(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("load backends: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("load backends: %s is not a directory", dir)
	}
	if err := routePluginLogs(dir); err != nil {
		return fmt.Errorf("load backends: %w", err)
	}
	cdir := cString(dir)
	defer cFree(cdir)
	C.ggml_backend_load_all_from_path(cdir)
	return nil
}

// SystemInfo describes the CPU features llama.cpp was built with and sees,
// e.g. "CPU : SSE3 = 1 | AVX2 = 1 | AVX512 = 1 | ...".
func SystemInfo() string { return C.GoString(C.llama_print_system_info()) }
