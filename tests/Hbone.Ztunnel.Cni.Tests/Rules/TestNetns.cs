using System.Diagnostics;
using Hbone.Ztunnel.Cni.Rules;

namespace Hbone.Ztunnel.Cni.Tests.Rules;

/// <summary>A network namespace this test creates and always deletes. Needs root (CI runs as root).</summary>
internal sealed class TestNetns : IDisposable
{
    public TestNetns()
    {
        if (geteuid() != 0)
        {
            throw new InvalidOperationException("These tests create network namespaces and need root (CI runs as root).");
        }

        Name = $"hbone-test-{Environment.ProcessId}-{Interlocked.Increment(ref s_counter)}";
        Run("ip", "netns", "add", Name);
        Run("ip", "netns", "exec", Name, "ip", "link", "set", "lo", "up");
    }

    private static int s_counter;

    public string Name { get; }

    public string Path => NetnsCommand.PathOfNamed(Name);

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

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern uint geteuid();
}
