package llama

// routePluginLogs does nothing on Windows yet: plugins there log through
// their own ggml-base.dll (see gpu_plugin_log.go for Unix).
func routePluginLogs(dir string) error { return nil }
