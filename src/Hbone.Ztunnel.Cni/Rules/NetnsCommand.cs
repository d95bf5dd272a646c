using System.Diagnostics;

namespace Hbone.Ztunnel.Cni.Rules;

/// <summary>Runs a command inside a network namespace (by path, as CNI hands it over) with <c>nsenter --net</c>.</summary>
internal static class NetnsCommand
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <summary>The path of a namespace created by <c>ip netns add NAME</c>.</summary>
    public static string PathOfNamed(string name) => $"/var/run/netns/{name}";

    /// <summary>Runs the command; a non-zero exit becomes an <see cref="InterceptionException"/> with its first error line.</summary>
    public static async Task<string> RunAsync(string netnsPath, string stdin, CancellationToken cancellationToken, params string[] command)
    {
        var (exitCode, output, error) = await TryRunAsync(netnsPath, stdin, cancellationToken, command).ConfigureAwait(false);
        if (exitCode != 0)
        {
            var firstLine = error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() ?? $"exit code {exitCode}";
            throw new InterceptionException($"'{string.Join(' ', command)}' in {netnsPath} failed: {firstLine}");
        }

        return output;
    }

    public static async Task<(int ExitCode, string Output, string Error)> TryRunAsync(string netnsPath, string stdin, CancellationToken cancellationToken, params string[] command)
    {
        if (!File.Exists(netnsPath))
        {
            throw new InterceptionException($"network namespace {netnsPath} does not exist");
        }

        var start = new ProcessStartInfo("nsenter")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add($"--net={netnsPath}");
        start.ArgumentList.Add("--");
        foreach (var part in command)
        {
            start.ArgumentList.Add(part);
        }

        using var process = Process.Start(start) ?? throw new InterceptionException("cannot start nsenter");
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var error = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.StandardInput.WriteAsync(stdin.AsMemory(), cancellationToken).ConfigureAwait(false);
        process.StandardInput.Close();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Timeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new InterceptionException($"'{string.Join(' ', command)}' in {netnsPath} did not finish within {Timeout.TotalSeconds:0} s");
        }

        return (process.ExitCode, await output.ConfigureAwait(false), await error.ConfigureAwait(false));
    }
}
