package sqlengine

// SetPushdown turns pushdown through views and joins on or off for the benchmark in package
// sqlengine_test, which reaches the engine through the local stack.
func SetPushdown(on bool) { noPushdown.Store(!on) }
