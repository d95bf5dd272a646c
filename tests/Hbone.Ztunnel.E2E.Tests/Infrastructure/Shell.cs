using System.Diagnostics;

namespace Hbone.Ztunnel.E2E.Tests.Infrastructure;

/// <summary>Runs a short command to completion with a deadline; a non-zero exit is an exception carrying its stderr.</summary>
internal static class Shell
{
    public static readonly TimeSpan DefaultDeadline = TimeSpan.FromSeconds(60);

    /// <summary>Runs <paramref name="command"/> and returns its stdout.</summary>
    public static async Task<string> RunAsync(IReadOnlyList<string> command, TimeSpan? deadline = null, CancellationToken cancellationToken = default)
    {
        var result = await TryRunAsync(command, deadline, cancellationToken);
        return result.ExitCode == 0
            ? result.Stdout
            : throw new InvalidOperationException($"'{string.Join(' ', command)}' exited with {result.ExitCode}: {result.Stderr.Trim()}");
    }

    /// <summary>Runs <paramref name="command"/> and returns its exit code and output, whatever the exit code.</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> TryRunAsync(IReadOnlyList<string> command, TimeSpan? deadline = null, CancellationToken cancellationToken = default)
    {
        var start = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in command.Skip(1))
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {command[0]}");
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(deadline ?? DefaultDeadline);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"'{string.Join(' ', command)}' did not finish within {deadline ?? DefaultDeadline}");
        }

        return (process.ExitCode, await stdout, await stderr);
    }
}
