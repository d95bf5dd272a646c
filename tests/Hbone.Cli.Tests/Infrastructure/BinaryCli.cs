using System.Diagnostics;

namespace Hbone.Cli.Tests.Infrastructure;

/// <summary>Runs the CLI with raw bytes on stdin and collects raw stdout bytes: what <c>hbone connect</c> carries.</summary>
internal static class BinaryCli
{
    public static async Task<(int ExitCode, byte[] Stdout, IReadOnlyList<string> Stderr)> RunAsync(byte[] stdin, TimeSpan timeout, params string[] args)
    {
        var info = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(HboneProcess.CliPath);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException("hbone did not start");
        using var stdout = new MemoryStream();
        var reading = process.StandardOutput.BaseStream.CopyToAsync(stdout);
        var stderr = process.StandardError.ReadToEndAsync();
        var writing = WriteAndCloseAsync(process.StandardInput.BaseStream, stdin);
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"hbone {string.Join(' ', args)} did not exit within {timeout}; stdout {stdout.Length} bytes; stderr: {await stderr}");
        }

        await reading;
        await writing;
        var lines = (await stderr).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).ToList();
        return (process.ExitCode, stdout.ToArray(), lines);
    }

    private static async Task WriteAndCloseAsync(Stream stdin, byte[] bytes)
    {
        try
        {
            // Several writes, as a pipe delivers them; then EOF.
            for (var offset = 0; offset < bytes.Length; offset += 64 * 1024)
            {
                await stdin.WriteAsync(bytes.AsMemory(offset, Math.Min(64 * 1024, bytes.Length - offset)));
            }

            await stdin.FlushAsync();
        }
        catch (IOException)
        {
            // The process exited without reading stdin (an error before the tunnel opened): a broken pipe.
        }
        finally
        {
            try
            {
                stdin.Dispose();
            }
            catch (IOException)
            {
            }
        }
    }
}
