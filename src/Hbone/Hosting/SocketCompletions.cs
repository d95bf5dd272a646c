namespace Hbone.Hosting;

/// <summary>
/// Where .NET runs socket completions on Linux. By default every completion hops from the socket event thread to the
/// thread pool; a proxy whose code never blocks on those threads can run them inline instead, which saves a hop and
/// a thread wake-up per receive (docs/benchmarks.md in the repository has the figures).
/// </summary>
public static class SocketCompletions
{
    /// <summary>The runtime's switch (<c>1</c> = inline), read once, when the process starts its first socket operation.</summary>
    public const string InlineVariable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>True when this process runs socket completions inline (the switch is <c>1</c>).</summary>
    public static bool IsInline => Environment.GetEnvironmentVariable(InlineVariable) == "1";

    /// <summary>
    /// Runs socket completions inline unless the environment already says (an explicit value, <c>0</c> included, wins).
    /// Call it first in <c>Main</c>, before any socket exists, and only in a process where nothing that runs on a
    /// socket completion blocks: a blocking handler would stall every socket served by that event thread.
    /// </summary>
    /// <returns>True when completions run inline.</returns>
    public static bool PreferInline()
    {
        var configured = Environment.GetEnvironmentVariable(InlineVariable);
        if (configured is null)
        {
            Environment.SetEnvironmentVariable(InlineVariable, "1");
            return true;
        }

        return IsInline;
    }
}
