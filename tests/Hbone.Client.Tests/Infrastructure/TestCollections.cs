// Tunnels move hundreds of megabytes and wait on keep-alive timers; on a shared 2-core machine, running test
// classes one at a time keeps every deadline meaningful.
[assembly: Xunit.CollectionBehavior(DisableTestParallelization = true)]
