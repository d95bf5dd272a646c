// Tunnels move hundreds of megabytes and wait on keep-alive timers; on a shared 2-core machine, running test
// classes one at a time keeps every deadline meaningful.
[assembly: Xunit.CollectionBehavior(DisableTestParallelization = true)]

namespace Hbone.Client.Tests.Infrastructure;

/// <summary>Tests that change process-wide test hooks (such as <c>HboneClient.FirstStreamIdForTests</c>).</summary>
[Xunit.CollectionDefinition(Name, DisableParallelization = true)]
public sealed class GlobalHookCollection
{
    public const string Name = "global test hooks";
}
