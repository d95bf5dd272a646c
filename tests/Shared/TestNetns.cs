using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Hbone.Ztunnel.Testing;

/// <summary>A network namespace (with lo up) this test creates and always deletes. Needs root (CI runs as root).</summary>
public sealed class TestNetns : IDisposable
{
    private static int s_counter;

    public TestNetns()
    {
        if (geteuid() != 0)
        {
            throw new InvalidOperationException("These tests create network namespaces and need root (CI runs as root).");
        }

        Name = $"hbone-zt-{Environment.ProcessId}-{Interlocked.Increment(ref s_counter)}";
        Run("ip", "netns", "add", Name);
        try
        {
            Run("ip", "-n", Name, "link", "set", "lo", "up");
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public string Name { get; }

    public string Path => $"/var/run/netns/{Name}";

    /// <summary>Runs a command inside the namespace and returns its stdout.</summary>
    public string Exec(params string[] command) => Run(["ip", "netns", "exec", Name, .. command]);

    public void Dispose() => Run("ip", "netns", "del", Name);

    private static string Run(params string[] command)
    {
        var start = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var part in command[1..])
        {
            start.ArgumentList.Add(part);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(30)))
        {
            process.Kill(true);
            throw new TimeoutException($"{string.Join(' ', command)} did not finish");
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{string.Join(' ', command)}: {error.Result.Trim()}");
        }

        return output.Result;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern uint geteuid();
}
